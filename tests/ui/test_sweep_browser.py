"""A sweep and a report in a real browser: what the printed addresses and the page show a person.

A real ``mlflow server`` on a free port serves the store that one small ``sweep`` and one
``train`` logged to through it, so the addresses ``sweep`` printed are the ones a user would
open. Debian's Chromium (Playwright) opens each in a fresh context, as on a first visit; the
report that ``report`` wrote on the best trial's full run and the trained run is opened from disk.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from mlflow_ui import mlflow_server

from browser import fresh_page, printed_after, require_chromium, run_cli
from conftest import FAST, PARAMS, REPO, sets

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

TRIALS = 4  # fewer than sweep.pruner_startup_trials (5): none is pruned, each logs its result
SWEEP = [
    *FAST,
    "model.name=random_forest",
    "sweep.space.random_forest.n_estimators.high=40",
    # a tracking server's ``auto`` storage is its PostgreSQL; this server has none
    "sweep.storage=journal:build/sweeps/optuna.journal",
]
PARENT = "sweep-random_forest-breast_cancer"
TRIAL_NAMES = [f"trial-{number:03d}" for number in range(TRIALS)]
BEST = re.compile(r"^random_forest-best-trial-\d{3}$")


@dataclass(frozen=True)
class Printed:
    """What the commands printed: the two addresses of ``sweep`` and the report's file."""

    runs_table: str
    sweep_page: str
    report: Path


@pytest.fixture(scope="module")
def printed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Printed]:
    """A server on a free port; a sweep, a run and a report on the sweep's best run and it."""
    require_chromium()
    folder = tmp_path_factory.mktemp("ui-sweep")
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    with mlflow_server(folder, env, artifacts=folder / "mlartifacts") as url:
        env["MLFLOW_TRACKING_URI"] = url
        swept = run_cli(
            env, folder, "sweep", "--config", str(PARAMS), "--trials", str(TRIALS), *sets(*SWEEP)
        )
        best = printed_after(swept, "Full run of the best trial:", "[0-9a-f]{32}")
        trained = run_cli(
            env,
            folder,
            "train",
            "--config",
            str(PARAMS),
            *sets(*FAST, "model.name=logistic_regression"),
        )
        other = re.findall(r"/runs/([0-9a-f]{32})\?", trained)[-1]
        page = folder / "report.html"
        run_cli(env, folder, "report", best, other, "--out", str(page), "--repo", str(REPO))
        yield Printed(printed_after(swept, "runs table:"), printed_after(swept, "the sweep:"), page)


@pytest.fixture
def page(printed: Printed) -> Iterator[Any]:
    with fresh_page() as tab:
        yield tab


def test_the_printed_sweep_address_opens_the_parent_run_with_its_child_runs(
    printed: Printed, page: Any
) -> None:
    from playwright.sync_api import expect

    assert re.search(r"/runs/[0-9a-f]{32}\?workflowType=machine_learning$", printed.sweep_page)
    page.goto(printed.sweep_page)

    expect(page.get_by_role("heading", name=PARENT, exact=True)).to_be_visible()
    expect(page.get_by_text("Child runs", exact=True)).to_be_visible()
    for name in TRIAL_NAMES:  # the Overview's Child runs: every trial and the best trial's run
        expect(page.get_by_role("link", name=name, exact=True)).to_be_visible()
    expect(page.get_by_role("link", name=BEST)).to_be_visible()


def test_the_printed_runs_table_nests_the_trials_under_the_sweep(
    printed: Printed, page: Any
) -> None:
    from playwright.sync_api import expect

    page.goto(printed.runs_table)
    parent = page.get_by_role("link", name=PARENT, exact=True)
    expect(parent).to_be_visible()
    expect(
        page.get_by_text(f"{TRIALS + 3} matching runs")
    ).to_be_visible()  # + best, the trained run
    # collapsed: the parent's row hides its children; the trained run is a row of its own
    expect(
        page.get_by_role("link", name="logistic_regression-breast_cancer", exact=True)
    ).to_be_visible()
    expect(page.get_by_role("link", name=TRIAL_NAMES[0], exact=True)).to_have_count(0)

    page.get_by_role("gridcell").filter(has=parent).get_by_role("button").first.click()

    for name in TRIAL_NAMES:
        expect(page.get_by_role("link", name=name, exact=True)).to_be_visible()
    expect(page.get_by_role("link", name=BEST)).to_be_visible()


def test_the_report_page_renders_its_plots_and_names_the_differing_param(
    printed: Printed, page: Any
) -> None:
    from playwright.sync_api import expect

    page.goto(printed.report.as_uri())

    title = page.get_by_role("heading", name=re.compile(r"^Run report: "))
    expect(title).to_contain_text("random_forest-best-trial-")
    expect(title).to_contain_text("logistic_regression-breast_cancer")
    differing = page.locator("h2:text-is('Parameters') + p + table")
    row = differing.get_by_role("row").filter(has=page.get_by_text("model.name", exact=True))
    expect(row.get_by_role("cell")).to_have_text(
        ["model.name", "random_forest", "logistic_regression"]
    )
    images = page.locator("h2:text-is('Plots') ~ div.plots img")
    expect(images.first).to_be_visible()
    widths = images.evaluate_all("all => all.map(image => image.complete && image.naturalWidth)")
    assert len(widths) >= 4, f"only {len(widths)} plots on the page"
    assert all(width and width > 0 for width in widths), f"images that did not render: {widths}"
