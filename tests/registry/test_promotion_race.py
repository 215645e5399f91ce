"""Racing promotions from two simulated machines against a real MLflow server on PostgreSQL.

Each "machine" is a subprocess with its own TMPDIR (no shared local state), its own basic-auth
user and its own spelling of the server's address (``127.0.0.1`` and ``localhost``), so only a
lock held in the store can serialise them. Afterwards the trail is replayed: every move names
the version the previous move left (no fork), and every gated holder was compared with the
version it replaced. Skipped only where PostgreSQL is absent.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from conftest import FAST, PARAMS, sets
from team_server import TeamServer, requires_postgres, running_team_server

pytestmark = [pytest.mark.slow, requires_postgres, pytest.mark.timeout(1800)]

MODEL = "race"
# Two machines, each spelling the server its own way and each with its own temporary folder;
# a cheap round starts two promotions on each machine at once, a gated round one on each.
MACHINES = [("alice", "127.0.0.1"), ("bob", "localhost")]
CHEAP_RACERS = 4  # alias "canary" (no gate)
CHEAP_ROUNDS = 5  # 20 racing promotions
GATED_ROUNDS = 1  # two racers, alias "staging" (the real gate: rebuild data, score both)


@dataclass(frozen=True)
class Server:
    """The team server as two machines see it: each its own spelling of the address."""

    team: TeamServer

    def url(self, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.team.port}"

    def env(self, user: str, host: str = "127.0.0.1", tmpdir: Path | None = None) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("MLFLOW_")}
        env |= {"MLFLOW_TRACKING_URI": self.url(host), "MLFLOW_DISABLE_TELEMETRY": "true"}
        env |= {"MLFLOW_TRACKING_USERNAME": user}
        env["MLFLOW_TRACKING_PASSWORD"] = self.team.users[user]
        if tmpdir is not None:
            env["TMPDIR"] = str(tmpdir)
        return env


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``mlops-tracking server``'s setup on PostgreSQL; users alice, bob and carol."""
    with running_team_server(tmp_path_factory.mktemp("race-server")) as team:
        team.add_user("carol")
        yield Server(team)


def _as(server: Server, user: str):  # type: ignore[no-untyped-def]
    """An MlflowClient of ``user`` (credentials come from the environment, as MLflow reads them)."""
    from mlflow import MlflowClient

    os.environ.update(server.env(user))
    return MlflowClient(server.url())


def _promote_command(server: Server, config: Path, version: str, alias: str) -> list[str]:
    return [
        *(sys.executable, "-m", "mlops_tracking", "promote", MODEL, "--to", alias),
        *("--version", version, "--config", str(config)),
    ]


def _race(server: Server, config: Path, tmp_path: Path, alias: str, versions: list[str]) -> None:
    """The two machines promote one version per racer to ``alias`` at the same moment."""
    racers = [MACHINES[index % len(MACHINES)] for index in range(len(versions))]
    processes = []
    for (user, host), version in zip(racers, versions, strict=True):
        tmpdir = tmp_path / f"tmp-{user}"
        tmpdir.mkdir(exist_ok=True)
        processes.append(
            subprocess.Popen(
                _promote_command(server, config, version, alias),
                env=server.env(user, host, tmpdir),
                cwd=tmp_path,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    outputs = [process.communicate(timeout=600)[0] for process in processes]
    for process, output in zip(processes, outputs, strict=True):
        assert process.returncode in {0, 1}, output  # 1: the gate rejected
        assert "Traceback" not in output, output


def _registered(server: Server, tmp_path: Path, run_id: str, copies: int) -> list[str]:
    """Register the one trained run ``copies`` times: versions that tie, so each gate passes."""
    versions = []
    for _ in range(copies):
        done = subprocess.run(
            [sys.executable, "-m", "mlops_tracking", "register", run_id, "--name", MODEL],
            env=server.env("alice"),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=True,
        )
        versions.append(done.stdout.split(f"Registered {MODEL} version ")[1].split()[0])
    return versions


def _bare_versions(client, count: int, name: str = MODEL) -> list[str]:  # type: ignore[no-untyped-def]
    experiment = client.create_experiment(f"bare-{uuid.uuid4().hex[:6]}")
    versions = []
    for _ in range(count):
        logged = client.create_logged_model(experiment)
        made = client.create_model_version(
            name, f"models:/{logged.model_id}", model_id=logged.model_id
        )
        versions.append(str(made.version))
    return versions


def _trained_run(server: Server, tmp_path: Path) -> str:
    done = subprocess.run(
        [
            *(sys.executable, "-m", "mlops_tracking", "train", "--config", str(PARAMS)),
            *sets(*FAST, "data.dataset=breast_cancer", "model.name=hist_gradient_boosting"),
        ],
        env=server.env("alice"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    client = _as(server, "alice")
    (experiment,) = [e for e in client.search_experiments() if e.name != "Default"]
    (run,) = client.search_runs([experiment.experiment_id])
    return str(run.info.run_id)


def _moves(entries, alias: str):  # type: ignore[no-untyped-def]
    return [entry for entry in entries if entry.alias == alias and entry.moved]


def test_racing_promotions_from_two_machines_keep_one_chain(
    auth_server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlops_tracking.registry import catalog

    for key in [key for key in os.environ if key.startswith("MLFLOW_")]:
        monkeypatch.delenv(key)
    run_id = _trained_run(auth_server, tmp_path)
    admin = _as(auth_server, "admin")
    admin.create_registered_model(MODEL)
    for user in ("alice", "bob"):
        auth_server.team.grant_model(MODEL, user, "EDIT")
    gated = _registered(auth_server, tmp_path, run_id, 2 * GATED_ROUNDS)
    cheap = _bare_versions(admin, CHEAP_RACERS * CHEAP_ROUNDS)
    config = tmp_path / "race.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "registry": {
                    "aliases": {"staging": {"gate": "evaluate"}, "canary": {"gate": "none"}},
                    "lock_timeout_seconds": 600,
                }
            }
        )
    )
    for round_ in range(CHEAP_ROUNDS):
        first = CHEAP_RACERS * round_
        _race(auth_server, config, tmp_path, "canary", cheap[first : first + CHEAP_RACERS])
    for round_ in range(GATED_ROUNDS):
        _race(auth_server, config, tmp_path, "staging", gated[2 * round_ : 2 * round_ + 2])

    monkeypatch.setenv("MLFLOW_TRACKING_URI", auth_server.url())
    for key, value in auth_server.env("admin").items():
        monkeypatch.setenv(key, value)
    trail = catalog.read_trail(MODEL)
    aliases = catalog.registered_aliases(MODEL)
    for alias in ("canary", "staging"):
        moves = _moves(trail, alias)
        forks = [
            (before.version, after.previous)
            for before, after in zip([None, *moves], moves, strict=False)
            if after.previous != (before.version if before else None)
        ]
        assert forks == [], forks
        assert aliases[alias] == moves[-1].version
    canary = _moves(trail, "canary")
    assert (
        len(canary) == CHEAP_RACERS * CHEAP_ROUNDS
    )  # no gate: every racer moved it, one after the other
    assert {entry.user for entry in canary} == {"alice", "bob"}
    staged = _moves(trail, "staging")
    ungated = [e for e in staged if e.previous is not None and e.holder_value is None]
    assert ungated == []
    assert [e.candidate_value is not None for e in staged] == [True] * len(staged)
    assert not [name for name in catalog.model_names() if ".promotion-lock." in name]
    assert not [m.name for m in admin.search_registered_models() if catalog.is_lock(m.name)]


def test_a_user_without_edit_permission_learns_it_before_the_gate(
    auth_server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in [key for key in os.environ if key.startswith("MLFLOW_")]:
        monkeypatch.delenv(key)
    admin = _as(auth_server, "admin")
    admin.create_registered_model("guarded")
    (version,) = _bare_versions(admin, 1, "guarded")
    done = subprocess.run(
        [
            *(sys.executable, "-m", "mlops_tracking", "promote", "guarded"),
            *("--to", "staging", "--version", version),
        ],
        env=auth_server.env("carol", "localhost"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert "carol may not change the registered model 'guarded'" in output, output
    assert "needs EDIT permission on it" in output and "Traceback" not in output
    admin = _as(auth_server, "admin")
    assert admin.get_registered_model("guarded").aliases == {}
    assert not [m.name for m in admin.search_registered_models() if "promotion-lock" in m.name]
