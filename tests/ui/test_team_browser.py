"""The MLflow UI of the team server in a real browser: behind its login, the page a teammate's
``train`` printed shows that teammate's run; without the login, the server asks for one.

The server is the session's team server (PostgreSQL, proxied artifacts, basic-auth), alice
trains through the CLI, and Debian's Chromium opens the printed address in a fresh context
with her credentials (as a browser answers the server's Basic-auth prompt).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from browser import PAGE_TIMEOUT_MS, chromium, require_chromium
from conftest import FAST, PARAMS, cli, sets
from team_server import TeamServer, requires_postgres

pytestmark = [pytest.mark.slow, requires_postgres, pytest.mark.timeout(900)]

EXPERIMENT = "ui-team"


@pytest.fixture(scope="module")
def printed(team_server: TeamServer, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The runs-table address alice's ``train`` printed."""
    require_chromium()
    folder = tmp_path_factory.mktemp("ui-team")
    overrides = sets(*FAST, "tracking.http.timeout_seconds=60")
    done = cli(
        *("train", "--config", str(PARAMS), "--experiment", EXPERIMENT, *overrides),
        env=team_server.env("alice"),
        cwd=folder,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    found = re.search(r"runs table:\s+(http://\S+)", done.stdout)
    assert found, done.stdout
    return found.group(1)


@pytest.fixture
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


def test_the_printed_runs_table_opens_behind_the_login(
    team_server: TeamServer, printed: str, browser: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    assert printed.startswith(f"{team_server.uri}/#/experiments/")
    assert printed.endswith("/runs?workflowType=machine_learning")
    login = {"username": "alice", "password": team_server.users["alice"]}
    context = browser.new_context(viewport={"width": 1500, "height": 1000}, http_credentials=login)
    page = context.new_page()
    page.set_default_timeout(PAGE_TIMEOUT_MS)
    answer = page.goto(printed)
    assert answer is not None and answer.status == 200
    expect(page.get_by_role("link", name="random_forest-breast_cancer")).to_be_visible()
    page.screenshot(path=str(tmp_path / "team-runs-table.png"))


def test_without_the_login_the_server_asks_for_one(
    team_server: TeamServer, printed: str, browser: Any
) -> None:
    """A browser without credentials is challenged (headless Chromium, which cannot show the
    login prompt, reports it as ERR_INVALID_AUTH_CREDENTIALS); the answer is 401, Basic."""
    from playwright.sync_api import Error

    context = browser.new_context()
    with pytest.raises(Error, match="ERR_INVALID_AUTH_CREDENTIALS"):
        context.new_page().goto(printed)
    answer = context.request.get(team_server.uri + "/")
    assert answer.status == 401
    assert answer.headers.get("www-authenticate", "").startswith("Basic")
