"""The Optuna study a sweep fills: where it is stored, how it samples and prunes, and resuming.

Storage (``sweep.storage``):

* ``auto`` on a local store: a journal file, ``build/sweeps/optuna.journal``. Optuna's journal
  storage appends every operation to one file under a file lock, so the worker processes of one
  machine share it safely (SQLite would lock them out of each other under load).
* ``auto`` against a tracking server: PostgreSQL, in a database ``optuna`` beside the server's
  own (``server.backend_store_uri``), created when missing. Workers on other machines join the
  same study with ``--study NAME`` and ``--set sweep.storage=postgresql://...``. RDB storage
  keeps a heartbeat per running trial: a trial whose worker died is failed by the next worker
  that starts one.
* a URL (``postgresql://``, ``mysql://``, ``sqlite:///``) is an RDB storage; a path is a
  journal file.

A study remembers what it optimises (model family, metric, direction) as user attributes: a
resumed study must optimise the same thing, or the command stops before a run exists.
"""

from __future__ import annotations

import os
import socket
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mlops_tracking.core.errors import ConfigError

if TYPE_CHECKING:
    import optuna

    from mlops_tracking.core.config import Config
    from mlops_tracking.core.search_space import SweepConfig

JOURNAL = Path("build/sweeps/optuna.journal")
OPTUNA_DATABASE = "optuna"
HEARTBEAT_SECONDS = 10
GRACE_SECONDS = 30
# What a study optimises, kept on the study: a resumed study must match.
PURPOSE_ATTRS = ("model", "metric", "direction", "dataset")


@dataclass(frozen=True)
class StudyPlace:
    """A study's name and storage, picklable for worker processes."""

    name: str
    storage: str  # an RDB URL, or journal:PATH

    @property
    def shown(self) -> str:
        """The storage as printed and tagged: without a password."""
        if self.storage.startswith("journal:"):
            return self.storage
        from sqlalchemy.engine import make_url

        return make_url(self.storage).render_as_string(hide_password=True)


def quiet_optuna() -> None:
    """Optuna logs each study and trial at INFO, and a failed trial with its traceback at
    WARNING; the command reports them in its own words (and the run keeps the error)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)


def storage_url(config: Config, tracking_uri: str) -> str:
    """The configured storage as an RDB URL or ``journal:PATH`` (``auto`` resolved)."""
    setting = config.sweep.storage.strip()
    if setting == "auto":
        if tracking_uri.startswith(("http://", "https://")):
            return _beside_server_database(config.server.backend_store_uri)
        return f"journal:{JOURNAL.absolute()}"
    if "://" in setting:
        return setting
    return f"journal:{Path(setting.removeprefix('journal:')).absolute()}"


def _beside_server_database(backend_store_uri: str) -> str:
    from sqlalchemy.engine import make_url

    url = make_url(backend_store_uri)
    if not url.drivername.startswith("postgresql"):
        raise ConfigError(
            "sweep.storage=auto against a tracking server needs the server's PostgreSQL "
            f"(server.backend_store_uri is {url.drivername}); set sweep.storage to a "
            "postgresql:// URL that every worker can reach"
        )
    return url.set(database=OPTUNA_DATABASE).render_as_string(hide_password=False)


# One storage per URL and process: an RDB storage holds a connection pool, which the progress
# poll would otherwise open anew twice a second.
_OPEN: dict[str, Any] = {}


def open_storage(place: StudyPlace, create_database: bool = True) -> Any:
    """The Optuna storage of ``place``: a journal file, or an RDB storage with heartbeats."""
    if place.storage not in _OPEN:
        _OPEN[place.storage] = _new_storage(place, create_database)
    return _OPEN[place.storage]


def close_storages() -> None:
    """Close the connection pools of the storages this process opened."""
    for storage in _OPEN.values():
        engine = getattr(storage, "engine", None)
        if engine is not None:
            engine.dispose()
    _OPEN.clear()


def _new_storage(place: StudyPlace, create_database: bool) -> Any:
    import optuna
    from optuna.storages.journal import JournalFileBackend

    if place.storage.startswith("journal:"):
        path = Path(place.storage.removeprefix("journal:"))
        path.parent.mkdir(parents=True, exist_ok=True)
        return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
    if create_database and place.storage.startswith("postgresql"):
        from mlops_tracking.server.databases import ensure_database

        ensure_database(place.storage, create=True)
    with warnings.catch_warnings():
        # Optuna marks heartbeats experimental and says so on every storage it opens
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.storages.RDBStorage(
            place.storage,
            heartbeat_interval=HEARTBEAT_SECONDS,
            grace_period=GRACE_SECONDS,
            engine_kwargs={"pool_pre_ping": True},
        )


def sampler(settings: SweepConfig, worker: int) -> Any:
    """The configured sampler; worker ``i`` draws with ``seed + i`` (the same seed in every
    worker would propose the same first points in each)."""
    import optuna

    seed = settings.seed + worker
    if settings.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(
        seed=seed, n_startup_trials=min(10, max(2, settings.trials // 4))
    )


def pruner(settings: SweepConfig) -> Any:
    import optuna

    if settings.pruner == "none":
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(
        n_startup_trials=settings.pruner_startup_trials,
        n_warmup_steps=settings.pruner_warmup_steps,
    )


def load_study(place: StudyPlace, settings: SweepConfig, worker: int = 0) -> optuna.Study:
    """The existing study at ``place``, with this worker's sampler."""
    import optuna

    return optuna.load_study(
        study_name=place.name,
        storage=open_storage(place, create_database=False),
        sampler=sampler(settings, worker),
        pruner=pruner(settings),
    )


def create_or_resume(place: StudyPlace, settings: SweepConfig, purpose: dict[str, str]) -> int:
    """Create the study, or check that the existing one optimises ``purpose``; return how many
    trials it already holds."""
    import optuna

    quiet_optuna()
    direction: Literal["minimize", "maximize"] = (
        "maximize" if purpose["direction"] == "maximize" else "minimize"
    )
    study = optuna.create_study(
        study_name=place.name,
        storage=open_storage(place),
        direction=direction,
        load_if_exists=True,
    )
    known = {key: study.user_attrs.get(key) for key in PURPOSE_ATTRS}
    if not any(known.values()):
        for key in PURPOSE_ATTRS:
            study.set_user_attr(key, purpose[key])
        return len(study.trials)
    different = {key: value for key, value in known.items() if value != purpose[key]}
    if different:
        was = ", ".join(f"{key}={value}" for key, value in known.items())
        raise ConfigError(
            f"study '{place.name}' in {place.shown} optimises {was}; this sweep would optimise "
            + ", ".join(f"{key}={purpose[key]}" for key in different)
            + ". Give it another name with --study NAME."
        )
    return len(study.trials)


def worker_id(index: int, pid: int | None = None) -> str:
    """``host:pid/index``: which process ran a trial (kept on the trial and its run)."""
    return f"{socket.gethostname()}:{pid or os.getpid()}/{index}"


def fail_orphans(place: StudyPlace, worker: str) -> list[tuple[int, str | None]]:
    """Fail the RUNNING trials of a worker that died; return their numbers and run ids."""
    from optuna.trial import TrialState

    storage = open_storage(place, create_database=False)
    study_id = storage.get_study_id_from_name(place.name)
    orphans = [
        trial
        for trial in storage.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,))
        if trial.user_attrs.get("worker") == worker
    ]
    for trial in orphans:
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
        storage.set_trial_user_attr(trial_id, "error", "its worker process died")
        storage.set_trial_state_values(trial_id, TrialState.FAIL)
    return [(trial.number, trial.user_attrs.get("mlflow_run_id")) for trial in orphans]
