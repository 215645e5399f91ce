"""The MLflow UI in a real browser: the addresses the CLI prints open the pages they promise.

Debian's Chromium (``/usr/bin/chromium``), driven by Playwright, opens every page in a fresh
browser context, as on a user's first visit: MLflow 3.17 shows a fresh browser its GenAI
overview unless the address names the model-training workflow. A real ``mlflow server`` on a
free port serves the store that two ``train`` commands and one ``register`` logged to, so every
address is the one those commands printed, with the server's own port. The version is then
promoted to staging, so the registry pages have an alias to show.
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
from conftest import FAST, PARAMS, sets

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

FAMILIES = ("logistic_regression", "random_forest")


@dataclass(frozen=True)
class Printed:
    """The addresses the commands printed, and where screenshots go."""

    runs_table: str
    run_page: str
    version_page: str
    model_page: str
    shots: Path


@pytest.fixture(scope="module")
def printed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Printed]:
    """A server on a free port; two runs trained and one version registered through it."""
    require_chromium()
    folder = tmp_path_factory.mktemp("ui")
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    with mlflow_server(folder, env, artifacts=folder / "mlartifacts") as url:
        env["MLFLOW_TRACKING_URI"] = url
        outputs = [
            run_cli(env, folder, "train", "--config", str(PARAMS), *sets(*FAST, f"model.name={f}"))
            for f in FAMILIES
        ]
        run_id = re.findall(r"/runs/([0-9a-f]{32})\?", outputs[-1])[0]
        registered = run_cli(env, folder, "register", run_id, "--config", str(PARAMS))
        version_page = printed_after(registered, "in the UI:")
        name = re.findall(r"#/models/([^/]+)/versions/", version_page)[0]
        run_cli(env, folder, "promote", name, "--to", "staging", "--config", str(PARAMS))
        yield Printed(
            runs_table=printed_after(outputs[-1], "runs table:"),
            run_page=printed_after(outputs[-1], "this run:"),
            version_page=version_page,
            model_page=re.sub(r"/versions/\d+", "", version_page),
            shots=folder,
        )


def _open_run_page(page: Any, printed: Printed) -> Any:
    """The run page ``train`` printed, once its heading shows; its table rows."""
    from playwright.sync_api import expect

    page.goto(printed.run_page)
    expect(
        page.get_by_role("heading", name="random_forest-breast_cancer", exact=True)
    ).to_be_visible()
    return page.get_by_role("row")


@pytest.fixture
def page(printed: Printed) -> Iterator[Any]:
    with fresh_page() as tab:
        yield tab


def test_the_printed_address_opens_the_runs_table_with_both_runs(
    printed: Printed, page: Any
) -> None:
    from playwright.sync_api import expect

    assert printed.runs_table.endswith("/runs?workflowType=machine_learning")
    page.goto(printed.runs_table)

    for family in FAMILIES:
        expect(page.get_by_role("link", name=f"{family}-breast_cancer")).to_be_visible()
    expect(page.get_by_text("2 matching runs")).to_be_visible()
    expect(page.get_by_role("link", name="Model registry")).to_be_visible()  # training sidebar
    expect(page.get_by_text("No data available for the selected time range")).to_have_count(0)
    page.screenshot(path=str(printed.shots / "runs-table.png"))


def test_a_model_of_the_run_shows_validation_metrics_on_the_validation_set(
    printed: Printed, page: Any
) -> None:
    """From the printed run page to a model page, as a user clicks: each metric's dataset."""
    from playwright.sync_api import expect

    rows = _open_run_page(page, printed)
    # the Logged models table (the metrics table's model links open a new tab)
    rows.filter(has_text="Ready").get_by_role("link", name="random_forest-pyfunc").click()
    expect(page).to_have_url(re.compile(r"/models/m-[0-9a-f]+"))

    def dataset_of(metric: str) -> Any:  # the model page's columns: metric, dataset, run, value
        row = rows.filter(has=page.get_by_role("cell", name=metric, exact=True))
        return row.get_by_role("cell").nth(1)

    expect(dataset_of("validation_log_loss")).to_contain_text("breast_cancer-validation")
    expect(dataset_of("validation_f1")).to_contain_text("breast_cancer-validation")
    expect(dataset_of("test_log_loss")).to_contain_text("breast_cancer-test")
    expect(dataset_of("fit_time_seconds")).to_have_text("-")
    expect(rows.filter(has_text="system/")).to_have_count(0)
    page.screenshot(path=str(printed.shots / "model-page.png"))


def test_the_printed_version_address_opens_the_version_and_its_card(
    printed: Printed, page: Any
) -> None:
    from playwright.sync_api import expect

    page.goto(printed.version_page)

    expect(page.get_by_role("heading", name="Version 1", exact=True)).to_be_visible()
    card = page.get_by_role("heading", name="breast_cancer-binary version 1")  # the model card
    expect(card).to_be_visible()
    expect(page.get_by_text(re.compile(r"^Computed on breast_cancer-validation"))).to_be_visible()


def test_the_run_page_shows_the_three_datasets_and_the_four_logged_models(
    printed: Printed, page: Any
) -> None:
    """What the docs say a run's Overview shows: its splits by context and its models."""
    from playwright.sync_api import expect

    rows = _open_run_page(page, printed)
    for fmt in ("sklearn", "pickle", "onnx", "pyfunc"):  # the Logged models table
        model = rows.filter(has_text="Ready").get_by_role("link", name=f"random_forest-{fmt}")
        expect(model.first).to_be_visible()

    page.get_by_role("button", name=re.compile(r"^breast_cancer-train")).first.click()
    drawer = page.get_by_role("dialog").filter(has_text="datasets used")
    expect(drawer.get_by_text("3 datasets used")).to_be_visible()
    for split in ("train", "validation", "test"):  # each with its context, as MLflow names it
        entry = drawer.get_by_role("button", name=re.compile(rf"^breast_cancer-{split} \("))
        context = {"train": "training", "test": "testing"}.get(split, split)
        expect(entry.get_by_role("status")).to_have_text(context)


def test_the_registered_model_page_shows_the_staging_alias(printed: Printed, page: Any) -> None:
    from playwright.sync_api import expect

    page.goto(printed.model_page)

    expect(page.get_by_role("heading", name="breast_cancer-binary", exact=True)).to_be_visible()
    version_1 = page.get_by_role("row").filter(
        has=page.get_by_role("link", name="Version 1", exact=True)
    )
    expect(version_1.get_by_text("@ staging")).to_be_visible()
    expect(page.get_by_text("@ production")).to_have_count(0)
