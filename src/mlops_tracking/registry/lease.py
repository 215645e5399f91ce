"""The promotion lock: a lease held in the model registry itself, so it holds across machines.

The one atomic primitive every MLflow store offers is creating a registered model: a second
``create_registered_model`` with the same name fails with RESOURCE_ALREADY_EXISTS (a unique
key in the database), whether the store is a SQLite file or a tracking server on PostgreSQL.
So the lock of model ``M`` is a registered model ``M.promotion-lock.<generation>`` tagged
``mlops.lock=true`` with who holds it (token, authenticated user, host, pid, alias) and until
when (``expires_at``). Nothing is kept on the client: two machines, or ``127.0.0.1`` and
``localhost``, see the same lock.

Generations exist because of basic-auth: only a lock's creator (and admins) may delete it, so a
promotion that finds an expired lease does not delete it; it *breaks* it by creating the next
generation. The holder is whoever owns the highest generation present. A holder renews its
lease in a background thread and, just before the alias moves, renews it once more and checks
that its generation is still the highest and still carries its token (``Lease.verify``).

The residual window, honestly: a holder that stalls (a paused VM, a lost network) for longer
than the lease while the next promotion's clock says the lease expired can be broken; it learns
so at its next check, so it cannot move the alias afterwards, but a stall between that last
check and the alias write itself (one HTTP request) is not covered, and neither is a clock skew
between machines larger than what is left of the lease. A fencing token checked by the server
would close it; MLflow's registry has none.
"""

from __future__ import annotations

import getpass
import os
import random
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from mlops_tracking.registry.catalog import (
    LOCK_INFIX,
    LOCK_NAME,
    LOCK_TAG,
    RegistryError,
    authenticated_user,
    client,
)

if TYPE_CHECKING:
    from mlflow.entities.model_registry import RegisteredModel

_ALREADY_EXISTS = {"RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"}


class LockTimeoutError(RegistryError):
    """Another promotion held the model's lock for longer than registry.lock_timeout_seconds."""


class LockLostError(RegistryError):
    """This promotion's lease expired or was broken before the alias moved: nothing moved."""


def lock_name(model: str, generation: int) -> str:
    return f"{model}{LOCK_INFIX}{generation}"


@dataclass(frozen=True)
class Holder:
    """What a lock's tags say about the promotion holding it."""

    name: str
    generation: int
    token: str
    user: str
    host: str
    pid: str
    alias: str
    acquired_at: str
    expires_at: str

    @classmethod
    def of(cls, model: RegisteredModel) -> Holder:
        tags = model.tags
        match = LOCK_NAME.match(model.name)
        return cls(
            name=model.name,
            generation=int(match["generation"]) if match else 0,
            token=tags.get("token", ""),
            user=tags.get("user", ""),
            host=tags.get("host", "?"),
            pid=tags.get("pid", "?"),
            alias=tags.get("alias", "?"),
            acquired_at=tags.get("acquired_at", "?"),
            expires_at=tags.get("expires_at", ""),
        )

    def expired(self, at: datetime) -> bool:
        """Past ``expires_at`` by this machine's clock.

        A lock read without its tags is one deleted between the two reads of a listing (its
        holder released it): not expired, the next read no longer sees it.
        """
        try:
            return datetime.fromisoformat(self.expires_at) <= at
        except ValueError:
            return False

    def describe(self) -> str:
        who = self.user or "an unauthenticated client"
        return (
            f"{who} on {self.host} (pid {self.pid}), promoting @{self.alias} since "
            f"{self.acquired_at}, lease until {self.expires_at or 'unknown'}"
        )


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds")


class Lease:
    """This process's hold on a model's promotion lock (see the module docstring)."""

    def __init__(self, model: str, alias: str, timeout: float, lease: float) -> None:
        self.model, self.alias = model, alias
        self.timeout, self.lease = timeout, lease
        self.token = secrets.token_hex(8)
        self.generation = 0
        self.broken: list[Holder] = []  # expired leases this one took over
        self._deadline = 0.0  # time.monotonic() after which this process stops trusting it
        self._lost: str | None = None
        self._guard = threading.Lock()
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    @property
    def name(self) -> str:
        return lock_name(self.model, self.generation)

    # --- acquiring ------------------------------------------------------------------------

    def acquire(self, waiting: Callable[[Holder], None] | None = None) -> None:
        """Take the lock, waiting up to ``timeout`` seconds for a live holder to let go."""
        give_up = time.monotonic() + self.timeout
        pause, told = 0.1, False
        while True:
            top = self._top()
            free = top is None or top.expired(datetime.now(UTC))
            # a failed create: someone took that generation first (or holds one we cannot read)
            if free and self._create(top.generation + 1 if top else 1):
                if not self._highest():  # a racer took a higher generation meanwhile: it wins
                    self._withdraw()
                    continue
                if top is not None:
                    self.broken.append(top)
                    self._sweep()
                self._start_renewing()
                return
            if time.monotonic() + pause > give_up:
                raise LockTimeoutError(self._timed_out(top))
            if waiting is not None and top is not None and not told:
                waiting(top)
                told = True
            time.sleep(pause * random.uniform(0.5, 1.5))  # jitter: racers do not poll in step
            pause = min(pause * 1.6, 2.0)

    def _timed_out(self, top: Holder | None) -> str:
        held = top.describe() if top else "a lock this user may not read"
        where = f" (the lock is the registered model '{top.name}')" if top else ""
        return (
            f"another promotion of '{self.model}' holds its lock: {held}. Waited "
            f"{self.timeout:g} s (registry.lock_timeout_seconds). Retry when it ends, or after "
            f"its lease expires{where}."
        )

    def _locks(self) -> list[Holder]:
        """Every generation of this model's lock, lowest first."""
        found = client().search_registered_models(
            filter_string=f"name LIKE '{self.model}{LOCK_INFIX}%'", max_results=1000
        )
        # LIKE treats '_' in the model's name as a wildcard: keep only exact matches
        mine = [
            Holder.of(model)
            for model in found
            if (match := LOCK_NAME.match(model.name)) and match["model"] == self.model
        ]
        return sorted(mine, key=lambda holder: holder.generation)

    def _top(self) -> Holder | None:
        locks = self._locks()
        return locks[-1] if locks else None

    def _create(self, generation: int) -> bool:
        from mlflow.exceptions import MlflowException

        started = time.monotonic()
        now = time.time()
        user = authenticated_user()
        tags = {
            LOCK_TAG: "true",
            "mlops.lock.model": self.model,
            "token": self.token,
            "user": user or "",
            "host": socket.gethostname(),
            "pid": str(os.getpid()),
            "os_user": getpass.getuser(),
            "alias": self.alias,
            "acquired_at": _iso(now),
            "expires_at": _iso(now + self.lease),
        }
        description = (
            f"Promotion lock of the registered model '{self.model}' (mlops-tracking), not a "
            f"model: held while a promotion of @{self.alias} runs, deleted when it ends. A lock "
            "whose expires_at tag has passed is stale; the next promotion takes it over."
        )
        try:
            client().create_registered_model(
                lock_name(self.model, generation), tags=tags, description=description
            )
        except MlflowException as error:
            if error.error_code in _ALREADY_EXISTS:
                return False
            raise
        self.generation = generation
        self._deadline = started + self.lease
        return True

    def _highest(self) -> bool:
        """Whether ours is the highest generation: two racers that both created one (one saw
        no lock, one an expired lease) hold different names; the highest alone holds it."""
        top = self._top()
        return top is not None and top.generation == self.generation

    def _withdraw(self) -> None:
        """Delete the generation this racer created but does not hold, and start over."""
        from mlflow.exceptions import MlflowException

        with suppress(MlflowException):
            client().delete_registered_model(self.name)
        self.generation = 0

    def _sweep(self) -> None:
        """Delete the stale generations below ours where allowed (their creator, an admin)."""
        from mlflow.exceptions import MlflowException

        for stale in self._locks():
            if stale.generation >= self.generation:
                continue
            with suppress(MlflowException):  # basic-auth: only its creator may; harmless if left
                client().delete_registered_model(stale.name)

    # --- holding --------------------------------------------------------------------------

    def _start_renewing(self) -> None:
        self._renewer = threading.Thread(
            target=self._renew_until_stopped, name=f"lease {self.name}", daemon=True
        )
        self._renewer.start()

    def _renew_until_stopped(self) -> None:
        while not self._stop.wait(self.lease / 3):
            try:
                self.renew()
            except Exception:  # a failed renewal is retried; verify() decides when it is lost
                continue
            if self._lost is not None:
                return

    def renew(self) -> None:
        """Extend the lease if the lock is still ours; note it as lost otherwise."""
        with self._guard:
            if self._lost is not None:
                return
            if time.monotonic() >= self._deadline:
                self._lost = f"its lease of {self.lease:g} s ran out before it was renewed"
                return
            locks = self._locks()
            ours = [lock for lock in locks if lock.generation == self.generation]
            if not ours or ours[0].token != self.token:
                self._lost = "it was taken over after its lease expired"
                return
            if locks[-1].generation != self.generation:
                self._lost = f"it was broken by {locks[-1].describe()}"
                return
            started, now = time.monotonic(), time.time()
            client().set_registered_model_tag(self.name, "expires_at", _iso(now + self.lease))
            self._deadline = started + self.lease

    def verify(self) -> None:
        """Raise ``LockLostError`` unless this promotion still holds the lock (renewed just now)."""
        try:
            self.renew()
        except Exception as error:
            raise LockLostError(
                f"could not confirm the promotion lock of '{self.model}' before moving "
                f"@{self.alias} ({error}); nothing was moved"
            ) from error
        if self._lost is not None:
            raise LockLostError(
                f"this promotion lost the lock of '{self.model}' before moving @{self.alias}: "
                f"{self._lost}; nothing was moved. Promote again."
            )

    def release(self) -> None:
        """Stop renewing and delete the lock if it still carries our token."""
        from mlflow.exceptions import MlflowException

        self._stop.set()
        if self._renewer is not None:
            self._renewer.join()
        with self._guard:
            try:
                if client().get_registered_model(self.name).tags.get("token") == self.token:
                    client().delete_registered_model(self.name)
            except MlflowException:  # already swept by a promotion that broke our lease
                pass


@contextmanager
def promotion_lock(
    model: str,
    alias: str,
    timeout: float,
    lease: float,
    waiting: Callable[[Holder], None] | None = None,
) -> Iterator[Lease]:
    """Hold ``model``'s promotion lock for the block; ``waiting`` hears of a live holder once."""
    held = Lease(model, alias, timeout, lease)
    held.acquire(waiting)
    try:
        yield held
    finally:
        held.release()
