"""The promotion lock held in the registry itself (registry/lease.py), on a local SQLite store.

Everything is read back from the store with MlflowClient: the lock is a registered model, so
what other machines would see is what these tests look at.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

MODEL = "churn"


def _versions(client, name: str = MODEL, count: int = 3) -> list[str]:  # type: ignore[no-untyped-def]
    """Bare registered versions (a LoggedModel each, no training): enough for gate-free aliases."""
    experiment = client.create_experiment("lease")
    client.create_registered_model(name)
    versions = []
    for _ in range(count):
        logged = client.create_logged_model(experiment)
        version = client.create_model_version(
            name, f"models:/{logged.model_id}", model_id=logged.model_id
        )
        versions.append(str(version.version))
    return versions


def _lock_models(client) -> dict[str, dict[str, str]]:  # type: ignore[no-untyped-def]
    return {
        model.name: dict(model.tags)
        for model in client.search_registered_models()
        if model.tags.get("mlops.lock") == "true"
    }


def _stale_lock(client, generation: int = 1, user: str = "alice") -> None:  # type: ignore[no-untyped-def]
    """A lock left behind by a promotion that crashed: its lease ended a minute ago."""
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat(timespec="milliseconds")
    tags = {"mlops.lock": "true", "token": "dead", "user": user, "host": "laptop", "pid": "4242"}
    tags |= {"alias": "staging", "acquired_at": past, "expires_at": past}
    client.create_registered_model(f"{MODEL}.promotion-lock.{generation}", tags=tags)


def test_the_lock_is_a_tagged_registered_model_hidden_from_the_listings(client) -> None:  # type: ignore[no-untyped-def]
    from mlops_tracking.registry import catalog
    from mlops_tracking.registry.lease import promotion_lock

    _versions(client, count=1)
    with promotion_lock(MODEL, "staging", timeout=5, lease=60):
        (name, tags), *others = _lock_models(client).items()
        assert not others
        assert name == f"{MODEL}.promotion-lock.1"
        assert tags["alias"] == "staging" and tags["pid"] and tags["token"]
        assert "Promotion lock of the registered model 'churn'" in (
            client.get_registered_model(name).description
        )
        assert catalog.model_names() == [MODEL]
        assert [summary["name"] for summary in catalog.model_summaries()] == [MODEL]
    assert _lock_models(client) == {}


def test_threads_racing_for_the_lock_never_hold_it_together(client) -> None:  # type: ignore[no-untyped-def]
    """Each racer reads a counter tag, pauses, writes it plus one: a lost update = a double hold."""
    from mlops_tracking.registry.lease import promotion_lock

    client.create_registered_model(MODEL, tags={"counter": "0"})
    inside, most, failures = [0], [0], []
    guard = threading.Lock()

    def racer() -> None:
        try:
            # a lease longer than any hold on a loaded machine (8 racers on one SQLite file):
            # this is about mutual exclusion; taking over an expired lease is tested below
            with promotion_lock(MODEL, "staging", timeout=600, lease=600):
                with guard:
                    inside[0] += 1
                    most[0] = max(most[0], inside[0])
                count = int(client.get_registered_model(MODEL).tags["counter"])
                threading.Event().wait(0.02)
                client.set_registered_model_tag(MODEL, "counter", str(count + 1))
                with guard:
                    inside[0] -= 1
        except Exception as error:  # reported below, not lost in a thread
            failures.append(error)

    threads = [threading.Thread(target=racer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    assert most[0] == 1
    assert client.get_registered_model(MODEL).tags["counter"] == "8"
    assert _lock_models(client) == {}


def test_a_live_holder_makes_the_next_promotion_time_out_naming_it(client) -> None:  # type: ignore[no-untyped-def]
    from mlops_tracking.registry.lease import LockTimeoutError, promotion_lock

    _versions(client, count=1)
    heard = []
    with (
        promotion_lock(MODEL, "production", timeout=5, lease=60),
        pytest.raises(LockTimeoutError, match=r"holds its lock: .* promoting @production since"),
        promotion_lock(MODEL, "staging", timeout=0.5, lease=60, waiting=heard.append),
    ):
        pass
    assert [holder.alias for holder in heard] == ["production"]
    assert list(_lock_models(client)) == []


def test_an_expired_lease_is_taken_over_and_its_lock_swept(client) -> None:  # type: ignore[no-untyped-def]
    from mlops_tracking.registry.lease import promotion_lock

    _versions(client, count=1)
    _stale_lock(client)
    with promotion_lock(MODEL, "staging", timeout=5, lease=60) as lease:
        assert [old.user for old in lease.broken] == ["alice"]
        assert lease.broken[0].describe().startswith("alice on laptop (pid 4242)")
        assert list(_lock_models(client)) == [f"{MODEL}.promotion-lock.2"]
        lease.verify()  # still ours
    assert _lock_models(client) == {}


def test_a_stalled_holder_whose_lease_was_broken_cannot_move_the_alias(
    client, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """The holder stalls past its lease, another promotion breaks it: its fence check fails,
    and its release leaves the newer lock alone."""
    from mlops_tracking.registry.lease import Lease, LockLostError, promotion_lock

    _versions(client, count=1)
    stalled = Lease(MODEL, "staging", timeout=5, lease=60)
    monkeypatch.setattr(stalled, "_start_renewing", lambda: None)  # it renews nothing
    stalled.acquire()
    past = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    client.set_registered_model_tag(stalled.name, "expires_at", past)  # its lease ran out

    with promotion_lock(MODEL, "staging", timeout=5, lease=60) as newer:
        assert newer.generation == 2
        with pytest.raises(LockLostError, match=r"lost the lock of 'churn' .* nothing was moved"):
            stalled.verify()
        stalled.release()
        assert list(_lock_models(client)) == [f"{MODEL}.promotion-lock.2"]
        newer.verify()


def test_a_swept_holder_leaves_alone_the_lock_that_reused_its_name(client) -> None:  # type: ignore[no-untyped-def]
    from mlops_tracking.registry.lease import Lease, LockLostError, promotion_lock

    _versions(client, count=1)
    stalled = Lease(MODEL, "staging", timeout=5, lease=60)
    stalled.acquire()
    stalled._stop.set()  # its renewer stops, as in a paused process
    client.set_registered_model_tag(stalled.name, "expires_at", "2000-01-01T00:00:00+00:00")
    with promotion_lock(MODEL, "staging", timeout=5, lease=60):
        pass  # took generation 2 and swept generation 1
    with promotion_lock(MODEL, "staging", timeout=5, lease=60) as third:
        assert third.name == stalled.name  # generation 1 again, another token
        with pytest.raises(LockLostError):
            stalled.verify()
        stalled.release()
        assert list(_lock_models(client)) == [third.name]


def test_a_lock_name_cannot_be_registered(client) -> None:  # type: ignore[no-untyped-def]
    from mlops_tracking.registry.catalog import RegistryError, check_name

    with pytest.raises(RegistryError, match="marks the promotion locks"):
        check_name("churn.promotion-lock.7")


def test_an_alias_moved_outside_the_lock_aborts_the_decision(
    client, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """Compare-and-verify: the gate compared with v1, someone moved the alias to v2 meanwhile."""
    from mlops_tracking.core.config import Config
    from mlops_tracking.core.promotion import Gate
    from mlops_tracking.registry import release
    from mlops_tracking.registry.catalog import RegistryError, read_trail

    first, second, third = _versions(client)
    client.set_registered_model_alias(MODEL, "staging", first)

    def gate_meanwhile(config: object, candidate: object, holder: str | None) -> tuple[Gate, str]:
        client.set_registered_model_alias(MODEL, "staging", second)  # the UI, say
        return Gate(True, "passes", "log_loss", "minimize", 0.0, 0.1, 0.2), "digest"

    monkeypatch.setattr(release, "evaluate_gate", gate_meanwhile)
    with pytest.raises(RegistryError, match=r"moved from version 1 to 2 while this promotion"):
        release.promote(Config(), MODEL, "staging", version=third, by="tester")

    assert client.get_registered_model(MODEL).aliases == {"staging": int(second)}
    assert read_trail(MODEL) == []
    assert "promotion.staging.decision" not in client.get_model_version(MODEL, third).tags
    assert _lock_models(client) == {}


def test_trail_entries_record_the_authenticated_user_and_old_ones_still_read(
    client, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    from mlops_tracking.core.config import AliasPolicy, Config, RegistryConfig
    from mlops_tracking.core.promotion import TrailEntry
    from mlops_tracking.registry.catalog import read_trail
    from mlops_tracking.registry.release import promote

    old = '{"at": "2025-01-01T00:00:00", "action": "promote", "alias": "staging", "version": "1",'
    old += ' "previous": null, "decision": "promoted", "by": "ann"}'
    assert TrailEntry.from_json(old).user is None

    (version,) = _versions(client, count=1)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "bob")  # a local store authenticates nobody
    config = Config(registry=RegistryConfig(aliases={"staging": AliasPolicy(gate="none")}))
    promote(config, MODEL, "staging", version=version, by="tester")
    (entry,) = read_trail(MODEL)
    assert (entry.by, entry.user, entry.previous) == ("tester", None, None)
