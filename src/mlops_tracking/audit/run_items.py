"""Audit items of outline sections 1, 2, 6, 7 and 10 that no generic rule covers: source code,
inputs and outputs, run details, the custom metric, the trivial baseline and the models a
comparison compared."""

from __future__ import annotations

import math
import re

from mlops_tracking.audit.rules import (
    AuditItem,
    Check,
    artifact,
    found,
    missing,
    not_applicable,
    tags,
)
from mlops_tracking.audit.snapshot import RunSnapshot
from mlops_tracking.core.baseline import (
    BEATEN_TAG,
    MARGIN_METRIC,
    METRIC_TAG,
    STRATEGY_TAG,
    baseline_name,
)
from mlops_tracking.core.dvc_workspace import data_hashes
from mlops_tracking.core.metric_links import is_system_metric

# The environment tags every run carries (outline section 5).
ENV_TAGS = (
    "env.python",
    "env.os",
    "env.cpu_count",
    "env.memory_gb",
    "env.gpu",
    "env.cuda",
    "env.cloud_provider",
    "env.ci",
    "env.mlflow",
    "env.scikit-learn",
)

# --- §6, §7, §10 ---------------------------------------------------------------------------------


def git_commit(s: RunSnapshot) -> AuditItem:
    item = "Git commit"
    if s.tags.get("git.available") == "false":
        return not_applicable(
            "6 Source code", item, "run outside a git repository (git.available=false)"
        )
    return tags("6 Source code", item, "mlflow.source.git.commit")(s)


def git_dirty(s: RunSnapshot) -> AuditItem:
    item = "Uncommitted changes (git.dirty, diff when dirty)"
    dirty = s.tags.get("git.dirty")
    if s.tags.get("git.available") == "false":
        return not_applicable("6 Source code", item, "run outside a git repository")
    if dirty is None:
        return AuditItem("6 Source code", item, "missing", "tag git.dirty")
    if dirty == "true" and "source/git.diff" not in s.artifacts:
        return AuditItem("6 Source code", item, "missing", "git.dirty=true but no source/git.diff")
    where = "git.dirty=true, source/git.diff" if dirty == "true" else "git.dirty=false"
    return AuditItem("6 Source code", item, "present", where)


def notebook(s: RunSnapshot) -> AuditItem:
    if s.tags.get("mlflow.source.type") != "NOTEBOOK":
        return not_applicable("6 Source code", "Notebook", "not run from a notebook")
    return artifact("6 Source code", "Notebook", r"\.ipynb$")(s)


def dataset_context(context: str) -> Check:
    item = f"{context.capitalize()} data (log_input)"

    def check(s: RunSnapshot) -> AuditItem:
        hits = []
        for entry in s.run.inputs.dataset_inputs if s.run.inputs else []:
            contexts = {t.value for t in entry.tags if t.key == "mlflow.data.context"}
            aliases = {
                context,
                {"training": "train", "testing": "test", "validation": "eval"}.get(
                    context, context
                ),
            }
            if contexts & aliases and entry.dataset.digest and entry.dataset.source:
                hits.append(f"{entry.dataset.name} (digest {entry.dataset.digest})")
        return found(
            "7 Inputs and outputs",
            item,
            hits,
            f"a dataset input with context '{context}', a digest and a source",
        )

    return check


def data_version(s: RunSnapshot) -> AuditItem:
    """The run says which DVC data version it used, or why it could not (outside a DVC repo)."""
    section, item = "7 Inputs and outputs", "Data version (DVC hashes, workspace state)"
    available = s.tags.get("dvc.available")
    if available is None:  # runs made before the DVC binding existed
        return not_applicable(section, item, "the run predates the DVC binding (no dvc.* tags)")
    if available == "false":
        return not_applicable(section, item, s.tags.get("dvc.reason", "no DVC information"))
    hashes = sorted(data_hashes(s.tags))
    state = f"workspace_clean={s.tags.get('dvc.workspace_clean', '?')}"
    if not hashes:
        return AuditItem(section, item, "present", f"read no DVC-versioned file; {state}")
    return AuditItem(
        section, item, "present", f"{len(hashes)} file hashes ({hashes[0]}, …); {state}"
    )


def predictions_table(s: RunSnapshot) -> AuditItem:
    tables = s.tags.get("mlflow.loggedArtifacts", "")
    hits = re.findall(r'"path":\s*"([^"]*predictions[^"]*)"', tables)
    return found(
        "7 Inputs and outputs",
        "Inference outputs (predictions table)",
        hits,
        "a table logged with log_table whose path contains 'predictions'",
    )


def run_status(s: RunSnapshot) -> AuditItem:
    info = s.run.info
    item = "Start, end, duration and status"
    if info.status != "FINISHED" or not info.end_time:
        return AuditItem(
            "10 Run details",
            item,
            "missing",
            f"a FINISHED run with an end time (status {info.status})",
        )
    seconds = (info.end_time - info.start_time) / 1000
    return AuditItem("10 Run details", item, "present", f"FINISHED in {seconds:.1f}s")


def run_kept(s: RunSnapshot) -> AuditItem:
    """A deleted run fails: it no longer shows in the UI or searches, and ``mlflow gc`` would
    erase it for good, so nothing it records can be relied on until it is restored."""
    item = "Run kept (not deleted)"
    if s.deleted:
        return AuditItem(
            "10 Run details",
            item,
            "missing",
            "the run is deleted (lifecycle_stage=deleted): `mlflow gc` would erase it; restore it "
            f"with `mlflow runs restore --run-id {s.run.info.run_id}`",
        )
    return AuditItem("10 Run details", item, "present", "lifecycle_stage=active")


def named_experiment(s: RunSnapshot) -> AuditItem:
    if s.run.info.experiment_id == "0":
        return AuditItem(
            "10 Run details", "Named experiment", "missing", "an experiment other than Default"
        )
    return AuditItem("10 Run details", "Named experiment", "present", s.experiment)


def run_name(s: RunSnapshot) -> AuditItem:
    return found(
        "10 Run details", "Run name and id", [n for n in [s.run.info.run_name] if n], "a run name"
    )


def parent_link(s: RunSnapshot) -> AuditItem:
    parent = s.tags.get("mlflow.parentRunId")
    if parent is None:
        return not_applicable("10 Run details", "Parent run", "a top-level run")
    return AuditItem("10 Run details", "Parent run", "present", f"mlflow.parentRunId={parent}")


def children(s: RunSnapshot) -> AuditItem:
    """A finished child for every model compared, at every seed of a seeded comparison."""
    item = "Child runs, all finished"
    models = [m for m in s.tags.get("compare.models", "").split(",") if m]
    seeds = s.tags.get("compare.seeds", "1")
    expected = len(models) * (int(seeds) if seeds.isdigit() else 1)
    done = [c for c in s.children if c.info.status == "FINISHED"]
    if not s.children or len(done) < max(expected, 1):
        states = ", ".join(f"{c.info.run_name}={c.info.status}" for c in s.children) or "none"
        return AuditItem(
            "10 Run details",
            item,
            "missing",
            f"{expected or 'some'} finished child runs (found {states})",
        )
    return AuditItem("10 Run details", item, "present", ", ".join(c.info.run_name for c in done))


def trial_curves(s: RunSnapshot) -> AuditItem:
    """A sweep's score per trial and its best so far, stepped by trial number."""
    item = "Each trial's score and the best so far, per trial"
    curves = {k: n for k, n in s.history_steps.items() if k.startswith(("trial_", "best_so_far_"))}
    if any(k.startswith("trial_") for k in curves) and any(
        k.startswith("best_so_far_") for k in curves
    ):
        shown = ", ".join(f"{k} ({n} steps)" for k, n in sorted(curves.items()))
        return AuditItem("1 Metrics", item, "present", shown)
    return AuditItem("1 Metrics", item, "missing", "metrics trial_* and best_so_far_* per trial")


def trial_score(s: RunSnapshot) -> AuditItem:
    """A completed trial's validation metrics; a pruned one stopped before it had any."""
    item = "Validation score"
    if s.tags.get("sweep.trial_state") == "pruned":
        at = s.tags.get("sweep.pruned_at", "?")
        return not_applicable("1 Metrics", item, f"pruned at step {at}, before it was scored")
    hits = [k for k, v in s.metrics.items() if k.startswith("validation_") and math.isfinite(v)]
    return found("1 Metrics", item, hits, "finite validation_* metrics")


def trial_history(s: RunSnapshot) -> AuditItem:
    """A trial's training and validation loss per step: a pruned one may have stopped after
    its first step."""
    item = "Training and validation loss per step"
    curves = {k: s.history_steps.get(k, 0) for k in ("train_loss", "val_loss")}
    if all(curves.values()):
        shown = ", ".join(f"{k} ({n} steps)" for k, n in curves.items())
        return AuditItem("1 Metrics", item, "present", shown)
    return AuditItem("1 Metrics", item, "missing", "train_loss and val_loss per step")


def trials_ended(s: RunSnapshot) -> AuditItem:
    """A sweep's trials: as many child runs as it says it ran, none left RUNNING."""
    item = "Trial runs, all ended"
    trials = [c for c in s.children if c.data.tags.get("mlops.run_type") == "sweep_trial"]
    expected = int(s.tags.get("sweep.trials", "0") or 0)
    running = [c.info.run_name for c in trials if c.info.status == "RUNNING"]
    if not trials or running or len(trials) < expected:
        return AuditItem(
            "10 Run details",
            item,
            "missing",
            f"{expected or 'some'} ended trial runs (found {len(trials)}"
            + (f"; RUNNING: {', '.join(running)}" if running else "")
            + ")",
        )
    states: dict[str, int] = {}
    for child in trials:
        state = child.data.tags.get("sweep.trial_state", "unknown")
        states[state] = states.get(state, 0) + 1
    shown = ", ".join(f"{count} {state}" for state, count in sorted(states.items()))
    return AuditItem("10 Run details", item, "present", f"{len(trials)} trials: {shown}")


def system_metrics(s: RunSnapshot) -> AuditItem:
    """CPU and memory sampled on the run, and on the run only: they describe the machine."""
    item = "System metrics (CPU, memory)"
    if s.tags.get("mlops.system_metrics") == "false":
        return not_applicable(
            "10 Run details", item, "switched off (tracking.system_metrics=false)"
        )
    on_models = [
        f"{model.name} carries {metric.key}"
        for model in s.models
        for metric in model.metrics or []
        if is_system_metric(metric.key)
    ]
    if on_models:
        return missing("10 Run details", item, on_models, "system metrics on the run only, but ")
    hits = [k for k in s.metrics if is_system_metric(k) and ("cpu" in k or "memory" in k)]
    return found(
        "10 Run details",
        item,
        hits,
        "system/cpu_* and system/*memory* metrics (log_system_metrics=True)",
    )


def custom_metric(s: RunSnapshot) -> AuditItem:
    declared = s.tags.get("mlops.custom_metric", "")
    hits = [declared] if declared and declared in s.metrics else []
    return found(
        "1 Metrics", "Custom metric", hits, "a metric named by the tag mlops.custom_metric"
    )


def models_compared(s: RunSnapshot) -> AuditItem:
    value = s.params.get("compare.models", "")
    return found(
        "2 Parameters", "Models compared", [value] if value else [], "param compare.models"
    )


def baseline_metrics(s: RunSnapshot) -> AuditItem:
    """The trivial baseline's validation and test metrics, and the verdict tag."""
    section, item = "1 Metrics", "Trivial baseline (validation and test)"
    validation = sorted(k for k in s.metrics if k.startswith(baseline_name("validation_")))
    test = sorted(k for k in s.metrics if k.startswith(baseline_name("test_")))
    verdict = s.tags.get(BEATEN_TAG)
    if validation and test and verdict in {"true", "false"}:
        selected = baseline_name(s.tags.get(METRIC_TAG, ""))
        shown = selected if selected in validation else validation[0]
        return AuditItem(
            section,
            item,
            "present",
            f"{len(validation) + len(test)} metrics ({shown}, …), "
            f"{STRATEGY_TAG}={s.tags.get(STRATEGY_TAG, '?')}",
        )
    return AuditItem(
        section,
        item,
        "missing",
        f"baseline_validation_* and baseline_test_* metrics and tag {BEATEN_TAG} (none recorded: "
        "a run trained before baselines were logged, or made without this project)",
    )


def baseline_beaten(s: RunSnapshot) -> AuditItem:
    """Whether the model beats its baseline on the selection metric: a warning when it does not.

    A model worse than the baseline is a truthfully recorded run, so it does not fail the audit
    (which says whether a run is completely tracked); it is flagged on every audit, and the
    promotion gate refuses it.
    """
    section, item = "1 Metrics", "Beats the trivial baseline (selection metric)"
    verdict, metric = s.tags.get(BEATEN_TAG), s.tags.get(METRIC_TAG, "")
    if verdict not in {"true", "false"}:
        return not_applicable(section, item, "no baseline recorded")
    model, baseline = s.metrics.get(metric), s.metrics.get(baseline_name(metric))
    margin = s.metrics.get(MARGIN_METRIC)
    figures = (
        f"{metric} {model:.4g} vs {baseline:.4g} for the baseline (margin {margin:+.4g})"
        if model is not None and baseline is not None and margin is not None
        else f"{metric}; values not recorded"
    )
    if verdict == "true":
        return AuditItem(section, item, "present", figures)
    return AuditItem(
        section,
        item,
        "flagged",
        f"does NOT beat the baseline: {figures}; the promotion gate refuses it",
        required=False,
    )
