"""Release workflows: register a run, promote a version through its gate, roll an alias back.

Composes the core (``promotion``, ``model_card``, ``evaluation``) with the registry shell. Every
decision, whether it moves an alias or not, is written to the version's tags and appended to
the registered model's audit trail before the command returns.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_tracking.errors import RunNotFoundError
from mlops_tracking.promotion import Gate, TrailEntry, decide, gate_metric, holders, lifecycle
from mlops_tracking.tracking import registry
from mlops_tracking.tracking.registry import ONNX_SUFFIX, RegistryError, VersionRef

if TYPE_CHECKING:
    from mlops_tracking.config import Config, RegistryConfig
    from mlops_tracking.records import TrainingInputs

CARD_FOLDER = "model_cards"


@dataclass(frozen=True)
class Registration:
    version: VersionRef
    onnx: VersionRef | None
    card_artifact: str


@dataclass(frozen=True)
class Decision:
    """What ``promote`` or ``rollback`` decided, as recorded."""

    entry: TrailEntry
    gate: Gate | None = None
    unchanged: bool = False  # the version already held the alias: nothing to do

    @property
    def moved(self) -> bool:
        return self.entry.moved and not self.unchanged


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


# --- register -------------------------------------------------------------------------------


def register_run(run_id: str, settings: RegistryConfig, name: str | None = None) -> Registration:
    """Register the run's deployable pyfunc (and its ONNX form) with tags and a model card."""
    from mlops_tracking import model_card
    from mlops_tracking.tracking.inference import signature_of
    from mlops_tracking.tracking.lineage import lineage

    run = run_lineage_or_fail(run_id)
    tags = _source_run_tags(run_id)
    if "model_uri.pyfunc" not in tags:
        raise RegistryError(
            f"run {run_id} has no deployable pyfunc model to register (it logged "
            f"{tags.get('mlops.model_formats') or 'no models'}); train with 'pyfunc' in "
            "tracking.model_formats"
        )
    name = name or settings.model_name or run["run"]["experiment"]["name"]
    version_tags = _version_tags(run, tags)
    ref = registry.register(
        tags["model_uri.pyfunc"], name, run_id, {**version_tags, "format": "pyfunc"}
    )
    labels = signature_of(ref).labels
    if labels:  # what label codes mean, for the ONNX form and whoever reads its output
        version_tags["labels"] = json.dumps(labels)
        registry.set_version_tags(ref, {"labels": version_tags["labels"]})
    onnx = None
    if "model_uri.onnx" in tags:
        onnx = _register_onnx(ref, tags["model_uri.onnx"], run_id, version_tags)
    card = model_card.render(lineage(ref.uri))
    artifact = f"{CARD_FOLDER}/{name}-v{ref.version}.md"
    registry.client().log_text(run_id, card, artifact)
    registry.describe_version(ref, card)
    return Registration(ref, onnx, artifact)


def _register_onnx(ref: VersionRef, uri: str, run_id: str, tags: dict[str, str]) -> VersionRef:
    """The ONNX twin: a version of ``<name>-onnx``, linked to ``ref`` both ways."""
    twin_tags = {**tags, "format": "onnx", "pyfunc.version": ref.version}
    onnx = registry.register(uri, ref.name + ONNX_SUFFIX, run_id, twin_tags)
    registry.set_version_tags(ref, {"onnx.version": onnx.version})
    registry.describe_version(onnx, f"ONNX form of `{ref.name}` version {ref.version}.")
    return onnx


def run_lineage_or_fail(run_id: str) -> dict[str, Any]:
    from mlops_tracking.tracking.lineage import run_lineage

    try:
        return run_lineage(run_id)
    except RegistryError:
        raise RunNotFoundError(
            f"no run {run_id} in this store; `mlops-tracking runs` lists the runs"
        ) from None


def _source_run_tags(run_id: str) -> dict[str, str]:
    return dict(registry.client().get_run(run_id).data.tags)


def _version_tags(run: dict[str, Any], tags: dict[str, str]) -> dict[str, str]:
    datasets = run["datasets"]
    digests = {f"dataset.{d['context']}.digest": d["digest"] for d in datasets if d["context"]}
    return {
        "source_run_id": str(run["run"]["id"]),
        "task": tags.get("task", ""),
        "dataset": tags.get("dataset", ""),
        "model.family": tags.get("model.family", ""),
        "git.commit": tags.get("mlflow.source.git.commit", "unknown"),
        "git.dirty": tags.get("git.dirty", "unknown"),
        "serving_engine": tags.get("mlops.serving_engine", "sklearn"),
        "lifecycle": "registered",
        **digests,
    }


# --- promote --------------------------------------------------------------------------------


def promote(
    config: Config,
    name: str,
    alias: str,
    *,
    version: str | None = None,
    force_reason: str | None = None,
    by: str = "",
) -> Decision:
    """Move ``alias`` to the version if it passes the alias's gate; record the decision.

    ``force_reason`` skips the gate (and the ``requires`` rule) and is recorded as the reason.
    Decisions about one model are serialised, so racing promotions see each other's outcome.
    """
    settings = config.registry
    policy = settings.aliases.get(alias)
    if policy is None:
        raise RegistryError(
            f"'{alias}' is not a configured alias; use one of {', '.join(settings.aliases)} "
            "(registry.aliases in params.yaml)"
        )
    candidate = registry.resolve(f"{name}/{version}" if version else name)
    with registry.registry_lock(name):
        aliases = registry.registered_aliases(name)
        holder = aliases.get(alias)

        def decided(**fields: Any) -> TrailEntry:
            return TrailEntry(
                at=now(), alias=alias, version=candidate.version, previous=holder, by=by, **fields
            )

        if holder == candidate.version:
            entry = decided(action="promote", decision="promoted")
            return Decision(entry, unchanged=True)
        if force_reason is not None:
            entry = decided(action="force", decision="promoted", reason=force_reason)
            return _record(name, entry, settings, None)
        if policy.requires and aliases.get(policy.requires) != candidate.version:
            reason = (
                f"version {candidate.version} does not hold '{policy.requires}', which "
                f"'{alias}' requires; promote it to {policy.requires} first"
            )
            entry = decided(action="promote", decision="rejected", reason=reason)
            return _record(name, entry, settings, None)
        if policy.gate == "none":
            entry = decided(action="promote", decision="promoted", reason="no gate")
            return _record(name, entry, settings, None)
        gate, digest = evaluate_gate(config, candidate, holder)
        entry = decided(
            action="promote",
            decision="promoted" if gate.passed else "rejected",
            reason=gate.explanation,
            metric=gate.metric,
            candidate_value=gate.candidate_value,
            holder_value=gate.holder_value,
            margin=gate.margin,
            dataset_digest=digest,
        )
        return _record(name, entry, settings, gate)


def evaluate_gate(config: Config, candidate: VersionRef, holder: str | None) -> tuple[Gate, str]:
    """Score the candidate and the holder on the candidate's held-out test split.

    The split is rebuilt from the candidate run's recorded config and must have the digest the
    run logged for it; otherwise the data changed and no fair comparison is possible.
    """
    inputs, digest = held_out_data(candidate)
    task = inputs.dataset.task
    metric = gate_metric(config.registry.metric, task)
    candidate_value = score_version(candidate, inputs)[metric]
    holder_value = None
    if holder is not None:
        holder_ref = VersionRef(candidate.name, holder)
        holder_tags = registry.model_version(holder_ref).tags
        if holder_tags.get("dataset", inputs.dataset.name) != inputs.dataset.name:
            raise RegistryError(
                f"version {holder} was trained on '{holder_tags.get('dataset')}', the candidate "
                f"on '{inputs.dataset.name}': they cannot be compared on the same data"
            )
        holder_value = score_version(holder_ref, inputs)[metric]
    gate = decide(metric, candidate_value, holder_value, config.registry.margin, holder or "")
    return gate, digest


def held_out_data(ref: VersionRef) -> tuple[TrainingInputs, str]:
    """The candidate's training inputs rebuilt from its run, and the test split's digest."""
    import tempfile
    from pathlib import Path

    from mlops_tracking.config import load_config
    from mlops_tracking.tracking.datasets import to_mlflow_dataset
    from mlops_tracking.workflows import prepare

    run_id = registry.model_version(ref).run_id
    if not run_id:
        raise RegistryError(f"{ref} records no source run, so its held-out data is unknown")
    run = registry.client().get_run(run_id)
    recorded = {
        item.dataset.name: item.dataset.digest
        for item in (run.inputs.dataset_inputs if run.inputs else [])
        if any(t.key == "mlflow.data.context" and t.value == "testing" for t in item.tags)
    }
    with tempfile.TemporaryDirectory() as scratch:
        path = registry.client().download_artifacts(run_id, "config/resolved.yaml", scratch)
        inputs = prepare(load_config(Path(path)))
    test = to_mlflow_dataset(inputs.dataset, inputs.splits.test)
    if recorded and recorded.get(test.name) != test.digest:
        raise RegistryError(
            f"the held-out data of {ref} cannot be rebuilt: its run logged "
            f"{test.name} with digest {recorded.get(test.name)}, the data now gives "
            f"{test.digest}. Restore the data version it was trained on."
        )
    return inputs, str(test.digest)


def score_version(ref: VersionRef, inputs: TrainingInputs) -> dict[str, float]:
    """Every test metric of the registered deployable model on ``inputs``' test split."""
    import numpy as np

    from mlops_tracking.evaluation import Predictions, compute_metrics
    from mlops_tracking.promotion import proba_matrix

    dataset, split = inputs.dataset, inputs.splits.test
    outputs = registry.predict_with(ref, split.X)
    if dataset.task == "regression":
        predictions = Predictions(split, outputs["prediction"].to_numpy(dtype=float), None)
    else:
        proba = proba_matrix(outputs, dataset.labels)
        predictions = Predictions(split, np.argmax(proba, axis=1), proba)
    bins = inputs.config.evaluation.calibration_bins
    return compute_metrics(predictions, dataset.task, len(dataset.labels), bins)


def _record(name: str, entry: TrailEntry, settings: RegistryConfig, gate: Gate | None) -> Decision:
    """Write the decision: version tags, the trail, then (if it passed) the alias."""
    prefix = f"promotion.{entry.alias}."
    fields = {
        "decision": entry.decision,
        "at": entry.at,
        "by": entry.by,
        "reason": entry.reason[:4000],
        "previous_holder": entry.previous or "none",
    }
    if gate is not None:
        fields |= {
            "metric": gate.metric,
            "candidate_value": f"{gate.candidate_value}",
            "holder_value": f"{gate.holder_value}",
            "dataset_digest": entry.dataset_digest,
        }
    registry.set_version_tags(
        VersionRef(name, entry.version), {prefix + k: v for k, v in fields.items()}
    )
    registry.append_trail(name, entry)
    if entry.moved:
        registry.move_alias(name, entry.alias, entry.version)
        _retag_lifecycle(name, settings, {entry.version, entry.previous})
    return Decision(entry, gate)


def _retag_lifecycle(name: str, settings: RegistryConfig, versions: set[str | None]) -> None:
    aliases = registry.registered_aliases(name)
    trail = registry.read_trail(name)
    for version in sorted(v for v in versions if v):
        held = [alias for alias, holder in aliases.items() if holder == version]
        ever = any(e.version == version and e.moved for e in trail)
        tag = lifecycle(held, list(settings.aliases), ever)
        registry.set_version_tags(VersionRef(name, version), {"lifecycle": tag})


# --- rollback -------------------------------------------------------------------------------


def rollback(settings: RegistryConfig, name: str, alias: str, reason: str, by: str) -> Decision:
    """Give ``alias`` back to the version that held it before the current one."""
    if alias not in settings.aliases:
        raise RegistryError(
            f"'{alias}' is not a configured alias; use one of {', '.join(settings.aliases)}"
        )
    with registry.registry_lock(name):
        current = registry.registered_aliases(name).get(alias)
        history = holders(registry.read_trail(name), alias)
        if current is None or len(history) < 2:
            raise RegistryError(
                f"'{name}@{alias}' has no earlier holder to roll back to "
                f"(holders so far: {', '.join(history) or 'none'})"
            )
        target = history[-2]
        registry.resolve(f"{name}/{target}")  # fails clearly if that version was deleted
        entry = TrailEntry(
            at=now(),
            action="rollback",
            alias=alias,
            version=target,
            previous=current,
            decision="rolled_back",
            by=by,
            reason=reason or f"rollback from version {current}",
        )
        return _record(name, entry, settings, None)


# --- batch prediction -----------------------------------------------------------------------


@dataclass(frozen=True)
class BatchPrediction:
    ref: VersionRef
    rows: int
    output: Path
    run_id: str
    seconds: float


def batch_predict(
    reference: str, input_path: Path, output_path: Path | None, engine: str, by: str
) -> BatchPrediction:
    """Check ``input_path`` against the signature, predict, write a CSV, log an inference run."""
    import time

    from mlops_tracking.batch_scoring import check_rows, read_rows
    from mlops_tracking.tracking.inference import log_inference, predict_rows, signature_of

    if engine not in {"pyfunc", "onnx"}:
        raise RegistryError(f"--engine must be pyfunc or onnx, not '{engine}'")
    ref = registry.resolve(reference)
    signature = signature_of(ref)
    rows = check_rows(read_rows(input_path), signature.columns, str(input_path))
    start = time.perf_counter()
    outputs = predict_rows(ref, rows, signature, engine)
    seconds = time.perf_counter() - start
    output = output_path or input_path.with_name(f"{input_path.stem}.predictions.csv")
    outputs.index = rows.index
    outputs.to_csv(output, index=False)
    run_id = log_inference(
        ref,
        rows,
        outputs,
        input_path=input_path,
        output_path=output,
        engine=engine,
        seconds=seconds,
        tags={"author": by},
    )
    return BatchPrediction(ref, len(rows), output, run_id, seconds)


# --- the demo's lifecycle -------------------------------------------------------------------


@dataclass
class LifecycleTour:
    """What the demo's registry tour did: registrations, decisions, one served request."""

    name: str = ""
    registered: list[Registration] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    served: str = ""  # the endpoint that answered
    response: str = ""  # its answer to one real request
    lineage: dict[str, Any] = field(default_factory=dict)


def lifecycle_tour(config: Config, best_run: str, weaker_run: str, by: str) -> LifecycleTour:
    """Register ``best_run``, promote it to staging then production through the gates, show the
    gate rejecting ``weaker_run``, serve production for one real request, and trace its lineage.
    """
    from mlops_tracking.tracking.lineage import lineage
    from mlops_tracking.tracking.serving import deployment, free_port, invoke

    tour = LifecycleTour()
    best = register_run(best_run, config.registry)
    tour.name = name = best.version.name
    tour.registered.append(best)
    for alias in ("staging", "production"):
        tour.decisions.append(promote(config, name, alias, version=best.version.version, by=by))
    weaker = register_run(weaker_run, config.registry, name)
    tour.registered.append(weaker)
    tour.decisions.append(promote(config, name, "staging", version=weaker.version.version, by=by))
    production = registry.resolve(f"{name}@production")
    inputs, _ = held_out_data(production)
    with deployment(production, by, port=free_port()) as served:
        tour.served = served.endpoint
        tour.response = invoke(served, inputs.splits.test.X.head(1))
    tour.lineage = lineage(f"{name}@production")
    return tour
