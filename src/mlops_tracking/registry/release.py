"""Release workflows: register a run, promote a version through its gate, roll an alias back.

Composes the core (``promotion``, ``model_card``, ``evaluation``) with the registry shell. Every
decision, whether it moves an alias or not, is written to the version's tags and appended to
the registered model's audit trail before the command returns.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mlops_tracking.core.promotion import Gate, TrailEntry, holders, lifecycle
from mlops_tracking.registry import catalog
from mlops_tracking.registry.catalog import ONNX_SUFFIX, RegistryError, VersionRef
from mlops_tracking.registry.gate import evaluate_gate
from mlops_tracking.runs.artifacts import log_run_text
from mlops_tracking.runs.recorded import RecordedRun, read_run

if TYPE_CHECKING:
    from mlops_tracking.core.config import AliasPolicy, Config, RegistryConfig
    from mlops_tracking.registry.lease import Holder, Lease
    from mlops_tracking.runs.logged_models import RunModel

CARD_FOLDER = "model_cards"
# Version tag ``origin``: made by this project (the gate can rebuild its test data) or not.
ORIGIN_HERE = "mlops-tracking"
ORIGIN_EXTERNAL = "external"
NOT_RECORDED = "not recorded"


@dataclass(frozen=True)
class Registration:
    version: VersionRef
    onnx: VersionRef | None
    card_artifact: str
    note: str = ""  # which of a run's several models was registered, and how to pick another
    external: bool = False  # the run was not made here: the gate cannot rebuild its test data


@dataclass(frozen=True)
class Decision:
    """What ``promote`` or ``rollback`` decided, as recorded."""

    entry: TrailEntry
    gate: Gate | None = None
    unchanged: bool = False  # the version already held the alias: nothing to do
    notes: tuple[str, ...] = ()  # e.g. the expired promotion lock this decision took over

    @property
    def moved(self) -> bool:
        return self.entry.moved and not self.unchanged


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


# --- register -------------------------------------------------------------------------------


def register_run(
    run_id: str, settings: RegistryConfig, name: str | None = None, model: str | None = None
) -> Registration:
    """Register the run's model as a new version of ``name``, with tags and a model card.

    A run made by this project registers its deployable pyfunc (and its ONNX form). A run made
    with plain MLflow calls registers one of its LoggedModels: ``model`` (a name or ``m-…`` id),
    else its only complete one, else the latest (the ``note`` says so). A deleted run, a run
    without a complete model, or an unknown ``model`` is a ``RegistryError`` before anything is
    created.
    """
    run = read_run(run_id)
    if run.deleted:
        raise RegistryError(
            f"run {run_id} is deleted; restore it first (`mlflow runs restore --run-id {run_id}`)"
        )
    if not run.made_here:
        return _register_logged_model(run, settings, name, model)
    if model is not None:
        raise RegistryError(
            f"run {run_id} was made by mlops-tracking: its deployable pyfunc is registered (with "
            "its ONNX form); --model picks among the models of a run logged with plain MLflow calls"
        )
    return _register_deployable(run, settings, name)


def _register_deployable(
    run: RecordedRun, settings: RegistryConfig, name: str | None
) -> Registration:
    """The deployable pyfunc of a run of this project, its labels, its ONNX twin and its card."""
    from mlops_tracking.registry.predict import signature_of

    tags = run.tags
    if "model_uri.pyfunc" not in tags:
        raise RegistryError(
            f"run {run.run_id} has no deployable pyfunc model to register (it logged "
            f"{tags.get('mlops.model_formats') or 'no models'}); train with 'pyfunc' in "
            "tracking.model_formats"
        )
    name = catalog.check_name(name or settings.model_name or run.experiment)
    version_tags = _version_tags(run)
    ref = catalog.register(
        tags["model_uri.pyfunc"], name, run.run_id, {**version_tags, "format": "pyfunc"}
    )
    labels = signature_of(ref).labels
    if labels:  # what label codes mean, for the ONNX form and whoever reads its output
        version_tags["labels"] = json.dumps(labels)
        catalog.set_version_tags(ref, {"labels": version_tags["labels"]})
    onnx = None
    if "model_uri.onnx" in tags:
        onnx = _register_onnx(ref, tags["model_uri.onnx"], run.run_id, version_tags)
    return Registration(ref, onnx, _publish_card(ref, run.run_id))


def _register_logged_model(
    run: RecordedRun, settings: RegistryConfig, name: str | None, choice: str | None
) -> Registration:
    """One LoggedModel of a run made without this project, tagged with what the run recorded."""
    from mlops_tracking.runs.logged_models import run_models
    from mlops_tracking.runs.recorded import fetch_run

    chosen, note = choose_model(run_models(fetch_run(run.run_id)), choice, run.run_id)
    name = catalog.check_name(name or settings.model_name or run.experiment)
    ref = catalog.register(chosen.uri, name, run.run_id, _external_tags(run, chosen))
    return Registration(ref, None, _publish_card(ref, run.run_id), note, external=True)


def choose_model(models: list[RunModel], choice: str | None, run_id: str) -> tuple[RunModel, str]:
    """The model to register and a note when the run had several to choose from.

    ``choice`` is a LoggedModel name or id. Without it: the only complete model, else the latest
    one with MLflow's python_function flavor (what ``predict`` and ``serve`` load).
    """
    if not models:
        raise RegistryError(
            f"run {run_id} logged no MLflow model (no LoggedModel in its outputs or naming it as "
            'source). Log one in the run, e.g. mlflow.sklearn.log_model(model, name="model", '
            "input_example=X[:5]), then register it."
        )
    listed = "; ".join(model.describe() for model in models)
    if choice is not None:
        return _chosen(
            models, choice, f"run {run_id} has no model '{choice}' (its models: {listed})"
        )
    complete = [model for model in models if model.problem is None]
    if not complete:
        raise RegistryError(
            f"run {run_id} has no completely written model: {listed}. Log the model again, "
            "then register it."
        )
    loadable = [model for model in complete if "python_function" in model.flavors] or complete
    chosen = loadable[-1]
    if len(models) == 1:
        return chosen, ""
    note = (
        f"run {run_id} has {len(models)} models ({listed}); registered {chosen.name} "
        f"({chosen.uri}), the latest complete one. Choose another with --model NAME or --model "
        "m-ID."
    )
    return chosen, note


def _chosen(models: list[RunModel], choice: str, unknown: str) -> tuple[RunModel, str]:
    """The model named ``choice`` (a name, an ``m-…`` id or its ``models:/`` URI); the latest
    when several share the name."""
    wanted = choice.removeprefix("models:/")
    picked = [model for model in models if wanted in {model.model_id, model.name}]
    if not picked:
        raise RegistryError(unknown)
    if picked[-1].problem is not None:
        raise RegistryError(f"model {picked[-1].describe()}; log it again, then register it")
    return picked[-1], ""


def _publish_card(ref: VersionRef, run_id: str) -> str:
    """Render the version's model card; log it to the run and make it the description."""
    from mlops_tracking.core import model_card
    from mlops_tracking.registry.lineage import lineage

    card = model_card.render(lineage(ref.uri))
    artifact = f"{CARD_FOLDER}/{ref.name}-v{ref.version}.md"
    log_run_text(run_id, card, artifact)
    catalog.describe_version(ref, card)
    return artifact


def _register_onnx(ref: VersionRef, uri: str, run_id: str, tags: dict[str, str]) -> VersionRef:
    """The ONNX twin: a version of ``<name>-onnx``, linked to ``ref`` both ways."""
    twin_tags = {**tags, "format": "onnx", "pyfunc.version": ref.version}
    onnx = catalog.register(uri, ref.name + ONNX_SUFFIX, run_id, twin_tags)
    catalog.set_version_tags(ref, {"onnx.version": onnx.version})
    catalog.describe_version(onnx, f"ONNX form of `{ref.name}` version {ref.version}.")
    return onnx


def _dataset_digests(run: RecordedRun) -> dict[str, str]:
    return {f"dataset.{item.context}.digest": item.digest for item in run.inputs if item.context}


def _version_tags(run: RecordedRun) -> dict[str, str]:
    tags = run.tags
    return {
        "source_run_id": run.run_id,
        "origin": ORIGIN_HERE,
        "task": tags.get("task", ""),
        "dataset": tags.get("dataset", ""),
        "model.family": tags.get("model.family", ""),
        "git.commit": tags.get("mlflow.source.git.commit", "unknown"),
        "git.dirty": tags.get("git.dirty", "unknown"),
        "serving_engine": tags.get("mlops.serving_engine", "sklearn"),
        "lifecycle": "registered",
        **_dataset_digests(run),
    }


def _external_tags(run: RecordedRun, model: RunModel) -> dict[str, str]:
    """What a run made with plain MLflow calls recorded; what it did not says "not recorded"."""
    tags = run.tags
    flavors = [flavor for flavor in model.flavors if flavor != "python_function"]
    return {
        "source_run_id": run.run_id,
        "origin": ORIGIN_EXTERNAL,
        "logged_model": model.name,
        "format": ",".join(flavors) or "pyfunc",
        "task": run.task,
        "dataset": tags.get("dataset") or (run.inputs[0].name if run.inputs else NOT_RECORDED),
        "model.family": tags.get("model.family") or tags.get("estimator_name") or NOT_RECORDED,
        "git.commit": tags.get("mlflow.source.git.commit", NOT_RECORDED),
        "git.dirty": tags.get("git.dirty", NOT_RECORDED),
        "lifecycle": "registered",
        **_dataset_digests(run),
    }


@dataclass(frozen=True)
class RecordedManifest:
    version: VersionRef
    digest: str


def record_missing_manifests(reference: str) -> list[RecordedManifest]:
    """Record the integrity manifest of a version registered before ``register`` recorded one
    (and of its ONNX twin), from its files as stored now: trust on first use.

    A version that already has one is refused: a manifest that disagrees with the stored files
    means they changed, and recording the changed files would bless them.
    """
    from mlops_tracking.runs.integrity import DIGEST_TAG, record_manifest

    ref = catalog.resolve(reference)
    versions = [ref]
    twin = catalog.model_version(ref).tags.get("onnx.version")
    if twin is not None:
        versions.append(VersionRef(ref.name + ONNX_SUFFIX, twin))
    if all(DIGEST_TAG in catalog.model_version(version).tags for version in versions):
        raise RegistryError(
            f"{ref} already has an integrity manifest; a manifest is recorded once, when a "
            "version is registered. If its files changed since, restore them or register the "
            "run again"
        )
    return [
        RecordedManifest(version, record_manifest(version.name, version.version))
        for version in versions
        if DIGEST_TAG not in catalog.model_version(version).tags
    ]


# --- promote --------------------------------------------------------------------------------


def promote(
    config: Config,
    name: str,
    alias: str,
    *,
    version: str | None = None,
    force_reason: str | None = None,
    by: str = "",
    waiting: Callable[[Holder], None] | None = None,
) -> Decision:
    """Move ``alias`` to the version if it passes the alias's gate; record the decision.

    Without ``version``, the candidate is the holder of the alias this one requires (production
    takes the staging version), else the latest version. ``force_reason`` skips the gate and
    the ``requires`` rule and is recorded as the reason. Decisions about one model are
    serialised by a lock held in the registry (``registry/lease.py``), so racing promotions,
    from any machine, see each other's outcome; just before the alias moves, the lock and the
    holder the gate compared with are checked again. A candidate the gate cannot judge (its
    data changed, the holder was tested on other data) is recorded as rejected, and the reason
    raised. ``waiting`` hears once of a live promotion this one waits for.
    """
    settings = config.registry
    policy = _policy(settings, alias)
    candidate = _candidate(name, version, policy.requires if force_reason is None else None)
    catalog.check_can_edit(name)  # before the lock and the gate: a 403 now, not in 15 s
    with _locked(name, alias, settings, waiting) as lease:
        decision = _decide(
            config, lease, candidate, policy=policy, force_reason=force_reason, by=by
        )
    return replace(decision, notes=_lock_notes(lease))


@contextmanager
def _locked(
    name: str, alias: str, settings: RegistryConfig, waiting: Callable[[Holder], None] | None
) -> Iterator[Lease]:
    from mlops_tracking.registry.lease import promotion_lock

    timeout, lease = settings.lock_timeout_seconds, settings.lock_lease_seconds
    with promotion_lock(name, alias, timeout, lease, waiting) as held:
        yield held


def _lock_notes(lease: Lease) -> tuple[str, ...]:
    return tuple(
        f"took over the expired promotion lock of {old.describe()}" for old in lease.broken
    )


def _entry_base(lease: Lease, by: str) -> dict[str, Any]:
    """The fields every trail entry written under ``lease`` shares: who, and broken leases."""
    details = {f"lock.broken.{old.generation}": old.describe() for old in lease.broken}
    return {"at": now(), "by": by, "user": catalog.authenticated_user(), "details": details}


def _fence(lease: Lease, name: str, alias: str, holder: str | None) -> Callable[[], None]:
    """The check just before a decision is written: the lock is still ours (renewed now) and
    the alias still has the holder the decision was made against (compare-and-verify)."""

    def check() -> None:
        lease.verify()
        held = catalog.registered_aliases(name).get(alias)
        if held != holder:
            raise RegistryError(
                f"'{name}@{alias}' moved from version {holder or 'unset'} to "
                f"{held or 'unset'} while this promotion held the model's lock, so by a client "
                "that does not take it (the MLflow UI, plain MLflow calls). This decision was "
                f"made against version {holder or 'unset'}, so nothing was moved or recorded; "
                "promote again."
            )

    return check


def _decide(
    config: Config,
    lease: Lease,
    candidate: VersionRef,
    *,
    policy: AliasPolicy,
    force_reason: str | None,
    by: str,
) -> Decision:
    """The decision about ``candidate`` for ``alias``, made and recorded under the lock."""
    settings, name, alias = config.registry, candidate.name, lease.alias
    aliases = catalog.registered_aliases(name)
    holder = aliases.get(alias)
    fence = _fence(lease, name, alias, holder)
    base = _entry_base(lease, by)

    def decided(**fields: Any) -> TrailEntry:
        return TrailEntry(alias=alias, version=candidate.version, previous=holder, **base, **fields)

    def record(entry: TrailEntry, gate: Gate | None = None) -> Decision:
        return _record(name, entry, settings, gate, fence=fence)

    if holder == candidate.version:
        return Decision(decided(action="promote", decision="promoted"), unchanged=True)
    if force_reason is not None:
        return record(decided(action="force", decision="promoted", reason=force_reason))
    if policy.requires and aliases.get(policy.requires) != candidate.version:
        reason = (
            f"version {candidate.version} does not hold '{policy.requires}', which "
            f"'{alias}' requires; promote it to {policy.requires} first"
        )
        return record(decided(action="promote", decision="rejected", reason=reason))
    if policy.gate == "none":
        return record(decided(action="promote", decision="promoted", reason="no gate"))
    try:
        gate, digest = evaluate_gate(config, candidate, holder)
    except RegistryError as refusal:
        record(decided(action="promote", decision="rejected", reason=str(refusal)))
        raise
    entry = decided(
        action="promote",
        decision="promoted" if gate.passed else "rejected",
        reason=gate.explanation,
        metric=gate.metric,
        candidate_value=gate.candidate_value,
        holder_value=gate.holder_value,
        margin=gate.margin,
        dataset_digest=digest,
        baseline_value=gate.baseline_value,
    )
    return record(entry, gate)


def _policy(settings: RegistryConfig, alias: str) -> AliasPolicy:
    policy = settings.aliases.get(alias)
    if policy is None:
        raise RegistryError(
            f"'{alias}' is not a configured alias; use one of {', '.join(settings.aliases)} "
            "(registry.aliases in params.yaml)"
        )
    return policy


def _candidate(name: str, version: str | None, requires: str | None) -> VersionRef:
    """The version to promote: as given, else the holder of the required alias, else latest."""
    if version is not None:
        return catalog.resolve(f"{name}/{version}")
    if requires is None:
        return catalog.resolve(name)
    holder = catalog.registered_aliases(name).get(requires)
    if holder is None:
        raise RegistryError(
            f"no version of '{name}' holds '{requires}' yet; promote one to {requires} first "
            "(or name one with --version)"
        )
    return VersionRef(name, holder)


def _record(
    name: str,
    entry: TrailEntry,
    settings: RegistryConfig,
    gate: Gate | None = None,
    *,
    fence: Callable[[], None],
) -> Decision:
    """Write a decision: the alias first (if it moves), then the version's tags and the trail.

    ``fence`` runs first and raises when the decision no longer holds (the lock was lost, the
    alias moved meanwhile): then nothing is written. Moving the alias first means a failed
    alias move records nothing. A failed write after it puts the alias back, so the trail never
    claims a move that did not happen (or misses one).
    """
    fence()
    if entry.moved:
        catalog.move_alias(name, entry.alias, entry.version)
    try:
        catalog.set_version_tags(VersionRef(name, entry.version), _decision_tags(entry, gate))
        catalog.append_trail(name, entry)
    except Exception:
        if entry.moved:
            catalog.restore_alias(name, entry.alias, entry.previous)
        raise
    if entry.moved:
        _retag_lifecycle(name, settings, {entry.version, entry.previous})
    return Decision(entry, gate)


def _decision_tags(entry: TrailEntry, gate: Gate | None) -> dict[str, str]:
    """``promotion.<alias>.*``: every key every time, so no earlier evidence is left standing."""
    fields = {
        "decision": entry.decision,
        "action": entry.action,
        "at": entry.at,
        "by": entry.by,
        "reason": entry.reason[:4000],
        "previous_holder": entry.previous or "none",
        "metric": gate.metric if gate else "n/a",
        "candidate_value": f"{gate.candidate_value}" if gate else "n/a",
        "holder_value": f"{gate.holder_value}" if gate else "n/a",
        "margin": f"{gate.margin}" if gate else "n/a",
        "baseline_value": f"{gate.baseline_value}" if gate else "n/a",
        "dataset_digest": entry.dataset_digest or "n/a",
    }
    return {f"promotion.{entry.alias}.{key}": value for key, value in fields.items()}


def _retag_lifecycle(name: str, settings: RegistryConfig, versions: set[str | None]) -> None:
    aliases = catalog.registered_aliases(name)
    trail = catalog.read_trail(name)
    for version in sorted(v for v in versions if v):
        held = [alias for alias, holder in aliases.items() if holder == version]
        ever = any(e.version == version and e.moved for e in trail)
        tag = lifecycle(held, list(settings.aliases), ever)
        catalog.set_version_tags(VersionRef(name, version), {"lifecycle": tag})


# --- rollback -------------------------------------------------------------------------------


def rollback(
    settings: RegistryConfig,
    name: str,
    alias: str,
    reason: str,
    by: str,
    *,
    waiting: Callable[[Holder], None] | None = None,
) -> Decision:
    """Give ``alias`` back to the version that held it before the current one."""
    if alias not in settings.aliases:
        raise RegistryError(
            f"'{alias}' is not a configured alias; use one of {', '.join(settings.aliases)}"
        )
    catalog.check_can_edit(name)
    with _locked(name, alias, settings, waiting) as lease:
        current = catalog.registered_aliases(name).get(alias)
        history = holders(catalog.read_trail(name), alias)
        if current is None or len(history) < 2:
            raise RegistryError(
                f"'{name}@{alias}' has no earlier holder to roll back to "
                f"(holders so far: {', '.join(history) or 'none'})"
            )
        target = history[-2]
        catalog.resolve(f"{name}/{target}")  # fails clearly if that version was deleted
        entry = TrailEntry(
            action="rollback",
            alias=alias,
            version=target,
            previous=current,
            decision="rolled_back",
            reason=reason or f"rollback from version {current}",
            **_entry_base(lease, by),
        )
        decision = _record(name, entry, settings, fence=_fence(lease, name, alias, current))
    return replace(decision, notes=_lock_notes(lease))
