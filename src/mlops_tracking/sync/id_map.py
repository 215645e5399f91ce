"""How a copy and its original name each other, so that a second sync creates nothing.

The copy carries ``mlops.sync.source = <source store>/<run id>`` from the moment it is created;
the original gets ``mlops.sync.copied_to.<key of the destination> = <destination>/<copy id>``
once the copy is complete. A copy is complete when its status is no longer RUNNING: ending it
with the original's status is the last step of replaying a run, so a copy interrupted halfway
is recognised (RUNNING, while its original has ended), deleted and made again.

Store ids are URIs without credentials: a SQLite file by its absolute path, a server by its
address, so the same store is recognised from any folder.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mlops_tracking.runs.spool import public_uri
from mlops_tracking.runs.store import sqlite_path

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run

SOURCE_TAG = "mlops.sync.source"
COPIED_TO_PREFIX = "mlops.sync.copied_to."
REPLACED_BY_TAG = "mlops.sync.replaced_by"
NOTE_TAG = "mlops.sync.note"
# The tags sync itself writes: never copied, never compared.
SYNC_TAG_PREFIX = "mlops.sync."


def store_id(uri: str) -> str:
    """The store's identity: ``sqlite:////abs/path.db`` or the server's address."""
    database = sqlite_path(uri)
    if database is not None:
        return f"sqlite:///{database.resolve()}"
    return public_uri(uri).rstrip("/")


def store_key(store: str) -> str:
    """A short tag-safe key for a store id (tag keys allow no ``:`` or ``//``)."""
    return hashlib.sha256(store.encode()).hexdigest()[:12]


def source_value(store: str, run_id: str) -> str:
    return f"{store}/{run_id}"


def copied_to_tag(destination: str) -> str:
    return COPIED_TO_PREFIX + store_key(destination)


def abandoned_note(copy_id: str) -> str:
    """Why sync ended a server run KILLED: the job ran again offline and this is its copy."""
    return (
        "Ended KILLED by `mlops-tracking sync`: the tracking server stopped answering during "
        "this run, so the job ran again into the offline spool; its complete record is run "
        f"{copy_id}."
    )


@dataclass
class IdMap:
    """Source ids to destination ids, for runs and LoggedModels, filled as the sync goes."""

    source: str
    destination: str
    runs: dict[str, str] = field(default_factory=dict)
    models: dict[str, str] = field(default_factory=dict)
    experiments: dict[str, str] = field(default_factory=dict)

    def source_of(self, run_id: str) -> str:
        return source_value(self.source, run_id)


def existing_copies(client: MlflowClient, experiment_id: str, source: str) -> dict[str, Run]:
    """The runs of a destination experiment copied from store ``source``, by original run id."""
    from mlflow.entities import ViewType

    found: dict[str, Run] = {}
    token: str | None = None
    prefix = f"{source}/"
    while True:
        page = client.search_runs(
            [experiment_id],
            filter_string=f"tags.`{SOURCE_TAG}` LIKE '{_like_escaped(prefix)}%'",
            run_view_type=ViewType.ACTIVE_ONLY,
            max_results=1000,
            page_token=token,
        )
        for run in page:
            value = run.data.tags.get(SOURCE_TAG, "")
            if value.startswith(prefix):
                found[value[len(prefix) :]] = run
        token = page.token
        if not token:
            return found


def _like_escaped(text: str) -> str:
    # a quote would end the filter's string; LIKE's own wildcards are rare in paths and harmless
    # here since the prefix is checked again above
    return text.replace("'", "\\'")
