"""Regenerate docs/images/*.png: real MLflow UI pages of a scratch demo store, in a real browser.

In build/screenshots (wiped first) this runs ``mlops-tracking demo`` (store ``demo/mlflow.db``)
and, at the same time, ``scripts/pipeline-demo.sh`` (its own store, ``pipeline/mlflow.db``) and a
small ``mlops-tracking sweep`` (``sweep/mlflow.db``); then ``mlops-tracking report`` compares two
of the demo's comparison children (``report/report.html``, opened from disk). Each store is
served by ``mlflow server`` on a free local port, and Debian's Chromium (``/usr/bin/chromium``,
driven by Playwright; no browser is downloaded) opens every page in a fresh context at a fixed
viewport, waits for the page's real content, outlines the element the picture is about, crops to
the part of the page it documents and writes docs/images/NAME.png as a palette PNG under 300 KB.
Nothing leaves 127.0.0.1.

    make screenshots                 # the whole job (about 7 minutes on two busy cores)
    python scripts/screenshots.py --reuse      # keep build/screenshots' stores (iterating on shots)
    python scripts/screenshots.py --only run-tags,run-metrics
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from mlflow_ui import CHROMIUM, CHROMIUM_ARGS, mlflow_server

REPO = Path(__file__).resolve().parents[1]
SCRATCH = REPO / "build" / "screenshots"
IMAGES = REPO / "docs" / "images"
VIEWPORT = {"width": 1400, "height": 900}
# a busy 2-core machine takes seconds to render a first page
TIMEOUT_MS = int(os.environ.get("SCREENSHOT_TIMEOUT_MS", "120000"))
MAX_BYTES = 300_000
TRAINING = "workflowType=machine_learning"
EXPERIMENT = "breast_cancer-binary"
LOSSES = ("train_loss", "val_loss")
# a dozen random_forest trials on breast_cancer, small forests: half a minute beside the demo
SWEEP = [
    "--trials",
    "12",
    "--set",
    "model.name=random_forest",
    "--set",
    "data.dataset=breast_cancer",
    "--set",
    "sweep.space.random_forest.n_estimators.high=60",
]
SWEEP_CURVES = ("best_so_far_validation_log_loss", "trial_validation_log_loss")
SWEEP_METRIC = ("validation_log_loss",)  # a column of the runs table: each trial's result
# the two comparison children the report puts side by side (the first is the reference)
REPORTED = ("logistic_regression", "random_forest")
REPORT = SCRATCH / "report" / "report.html"
DRIFT = SCRATCH / "report" / "drift_report.html"
HIGHLIGHT = "3px solid #e8590c"
ENV = {
    **os.environ,
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "DVC_NO_ANALYTICS": "1",
    "COLUMNS": "150",
}


@dataclass(frozen=True)
class Sweep:
    """The sweep store's parent run and its children, read back."""

    experiment_id: str
    parent_id: str
    parent_name: str
    trials: list[str]  # run names, trial-000 ...
    best_name: str  # the best trial trained again as a full run


@dataclass
class Demo:
    """The ids the pages need, read back from the demo's store."""

    experiment_id: str
    parent_id: str
    children: dict[str, str]  # run name -> run id
    run_id: str  # the child registered as version 1
    model_id: str  # that run's pyfunc LoggedModel
    pipeline_experiment_id: str = ""
    pipeline_run_id: str = ""
    sweep: Sweep | None = None
    urls: dict[str, str] = field(default_factory=dict)
    monitoring_experiment_id: str = ""  # NAME-monitoring: the tour's serving run and drift check
    serving_run: tuple[str, str] = ("", "")  # (run id, run name)
    drift_run_id: str = ""


def log(message: str) -> None:
    print(message, flush=True)


# ----------------------------------------------------------------------------------- the stores
def make_stores() -> None:
    """The demo, the pipeline walk-through and a small sweep, side by side (two cores: about the
    demo's time; the sweep takes half a minute)."""
    shutil.rmtree(SCRATCH, ignore_errors=True)
    for folder in ("demo", "sweep"):
        (SCRATCH / folder).mkdir(parents=True)
    demo_log = (SCRATCH / "demo.log").open("w")
    pipeline_log = (SCRATCH / "pipeline.log").open("w")
    sweep_log = (SCRATCH / "sweep.log").open("w")
    demo_env = {**ENV, "MLFLOW_TRACKING_URI": f"sqlite:///{SCRATCH / 'demo' / 'mlflow.db'}"}
    sweep_env = {**ENV, "MLFLOW_TRACKING_URI": f"sqlite:///{SCRATCH / 'sweep' / 'mlflow.db'}"}
    jobs = {
        "mlops-tracking demo": subprocess.Popen(
            ["mlops-tracking", "demo", "--config", str(REPO / "params.yaml")],
            cwd=SCRATCH / "demo",
            env=demo_env,
            stdout=demo_log,
            stderr=subprocess.STDOUT,
        ),
        "scripts/pipeline-demo.sh": subprocess.Popen(
            ["bash", "scripts/pipeline-demo.sh", str(SCRATCH / "pipeline")],
            cwd=REPO,
            env={k: v for k, v in ENV.items() if k != "MLFLOW_TRACKING_URI"},
            stdout=pipeline_log,
            stderr=subprocess.STDOUT,
        ),
        "mlops-tracking sweep": subprocess.Popen(
            ["mlops-tracking", "sweep", "--config", str(REPO / "params.yaml"), *SWEEP],
            cwd=SCRATCH / "sweep",
            env=sweep_env,
            stdout=sweep_log,
            stderr=subprocess.STDOUT,
        ),
    }
    started = time.monotonic()
    failed = []
    for name, job in jobs.items():
        code = job.wait()
        log(f"  {name}: exit {code} after {time.monotonic() - started:.0f} s")
        if code != 0:
            failed.append(name)
    for output in (demo_log, pipeline_log, sweep_log):
        output.close()
    if failed:
        for file in ("demo.log", "pipeline.log", "sweep.log"):
            log(f"--- last lines of {file}:\n" + "".join((SCRATCH / file).open().readlines()[-20:]))
        raise SystemExit(f"failed: {', '.join(failed)}")


def read_ids() -> Demo:
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{SCRATCH / 'demo' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(EXPERIMENT)
    assert experiment is not None, f"the demo made no experiment {EXPERIMENT}"
    runs = client.search_runs([experiment.experiment_id])
    parent = next(r for r in runs if "mlflow.parentRunId" not in r.data.tags)
    children = {
        r.info.run_name: r.info.run_id
        for r in sorted(runs, key=lambda r: r.info.start_time)
        if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id
    }
    version = client.get_model_version(EXPERIMENT, "1")
    run_id = str(version.run_id)
    models = client.search_logged_models([experiment.experiment_id])
    pyfunc = next(m for m in models if m.source_run_id == run_id and m.name.endswith("-pyfunc"))
    demo = Demo(experiment.experiment_id, parent.info.run_id, children, run_id, pyfunc.model_id)

    pipeline = MlflowClient(f"sqlite:///{SCRATCH / 'pipeline' / 'mlflow.db'}")
    first = pipeline.search_runs(
        [e.experiment_id for e in pipeline.search_experiments()],
        filter_string="tags.`dvc.stage` = 'train'",
        order_by=["attributes.start_time ASC"],
        max_results=1,
    )
    assert first, "the pipeline walk-through logged no training run"
    demo.pipeline_experiment_id = first[0].info.experiment_id
    demo.pipeline_run_id = first[0].info.run_id
    demo.sweep = read_sweep()
    monitoring = client.get_experiment_by_name(f"{EXPERIMENT}-monitoring")
    assert monitoring is not None, "the demo's tour logged no monitoring run"
    demo.monitoring_experiment_id = monitoring.experiment_id
    watched = client.search_runs([monitoring.experiment_id])
    serving = next(r for r in watched if r.data.tags.get("mlops.run_type") == "serving")
    demo.serving_run = (serving.info.run_id, serving.info.run_name)
    demo.drift_run_id = next(
        r.info.run_id for r in watched if r.data.tags.get("mlops.run_type") == "drift_check"
    )
    return demo


def make_drift_page(demo: Demo) -> None:
    """The tour's drift report, downloaded from its drift-check run (opened from disk)."""
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{SCRATCH / 'demo' / 'mlflow.db'}")
    DRIFT.parent.mkdir(parents=True, exist_ok=True)
    path = client.download_artifacts(demo.drift_run_id, "monitoring/drift_report.html")
    shutil.copy(path, DRIFT)


def read_sweep() -> Sweep:
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{SCRATCH / 'sweep' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(EXPERIMENT)
    assert experiment is not None, f"the sweep made no experiment {EXPERIMENT}"
    runs = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time ASC"])
    parent = next(r for r in runs if r.data.tags.get("mlops.run_type") == "sweep")
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    trials = [r.info.run_name for r in children if "sweep.trial_state" in r.data.tags]
    best = [r.info.run_name for r in children if "-best-trial-" in r.info.run_name]
    assert trials and best, "the sweep logged no trial runs or no best-trial run"
    return Sweep(
        experiment.experiment_id, parent.info.run_id, parent.info.run_name, trials, best[0]
    )


def make_report(demo: Demo) -> None:
    """``mlops-tracking report`` on two of the comparison's children, from the demo's store."""
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    ids = [demo.children[family] for family in REPORTED]
    demo_env = {**ENV, "MLFLOW_TRACKING_URI": f"sqlite:///{SCRATCH / 'demo' / 'mlflow.db'}"}
    command = ["mlops-tracking", "report", *ids, "--out", str(REPORT), "--repo", str(REPO)]
    with (SCRATCH / "report.log").open("w") as output:
        done = subprocess.run(
            command,
            cwd=SCRATCH / "demo",
            env=demo_env,
            stdout=output,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if done.returncode != 0:
        log_file = SCRATCH / "report.log"
        raise SystemExit(f"mlops-tracking report: exit {done.returncode} (see {log_file})")


# ----------------------------------------------------------------------------------- the server
@contextmanager
def ui_server(folder: Path) -> Iterator[str]:
    """``mlflow server`` on the folder's store and a free port; yield the UI's ``…/#`` root."""
    with (
        (folder / "server.log").open("w") as output,
        mlflow_server(folder, ENV, output=output) as url,
    ):
        log(f"  mlflow server on {url} serves {folder.relative_to(REPO)}/mlflow.db")
        yield url + "/#"


# ---------------------------------------------------------------------------------- page helpers
def close_assistant(page: Any) -> None:
    """MLflow 3.17 opens its Assistant side panel on a first visit: close it for the picture."""
    close = page.get_by_role("button", name="Close", exact=True)
    if close.count():
        close.first.click()
        close.first.wait_for(state="detached")
    launcher = page.get_by_role("button", name="MLflow Assistant", exact=True)
    if launcher.count():
        launcher.first.evaluate("e => { e.style.visibility = 'hidden'; }")


def outline(locator: Any) -> None:
    """Draw the highlight around each element the locator matches."""
    for index in range(locator.count()):
        locator.nth(index).evaluate(
            "(e, style) => { e.style.outline = style; e.style.outlineOffset = '2px'; }",
            HIGHLIGHT,
        )


def outline_text(page: Any, pattern: str) -> None:
    """Outline the innermost elements whose whole text matches ``pattern`` (a JS regex)."""
    page.evaluate(
        """([pattern, style]) => {
            const wanted = new RegExp(pattern);
            const hits = [...document.querySelectorAll('main *')].filter(
                e => wanted.test(e.textContent.trim()));
            for (const e of hits) {
                if (!hits.some(other => other !== e && e.contains(other))) {
                    e.style.outline = style;
                    e.style.outlineOffset = '2px';
                }
            }
        }""",
        [pattern, HIGHLIGHT],
    )


def section(page: Any, heading: Any, taller: int = 40) -> Any:
    """The smallest ancestor of a heading that is ``taller`` pixels more: heading and content."""
    return heading.evaluate_handle(
        """(h, taller) => {
            let e = h.parentElement;
            const base = h.getBoundingClientRect().height;
            while (e && e.getBoundingClientRect().height < base + taller) e = e.parentElement;
            return e;
        }""",
        taller,
    )


@dataclass
class Clip:
    """The smallest rectangle around some elements (page coordinates), a few pixels more."""

    page: Any
    parts: list[Any]
    pad: int = 8
    full_page: bool = False  # page coordinates past the viewport's bottom (a long document)

    def screenshot(self, path: str, **options: Any) -> None:
        scroll = self.page.evaluate("() => window.scrollY") if self.full_page else 0
        boxes = [part.bounding_box() for part in self.parts]
        left = min(b["x"] for b in boxes) - self.pad
        top = min(b["y"] for b in boxes) - self.pad + scroll
        right = max(b["x"] + b["width"] for b in boxes) + self.pad
        bottom = max(b["y"] + b["height"] for b in boxes) + self.pad + scroll
        left, top = max(left, 0), max(top, 0)
        right = min(right, VIEWPORT["width"])
        if not self.full_page:
            bottom = min(bottom, VIEWPORT["height"])
        clip = {"x": left, "y": top, "width": right - left, "height": bottom - top}
        self.page.screenshot(path=path, clip=clip, full_page=self.full_page, **options)


@dataclass
class Stack:
    """Several clips of one long page, one under the other; a dashed line marks what is left out
    between two of them."""

    clips: list[Clip]
    gap: int = 14

    def screenshot(self, path: str, **options: Any) -> None:
        from PIL import Image, ImageDraw

        parts = []
        for index, clip in enumerate(self.clips):
            part = SCRATCH / f"{Path(path).stem}.part{index}.png"
            clip.screenshot(str(part), **options)
            with Image.open(part) as image:
                parts.append(image.convert("RGB"))
            part.unlink()
        width = max(part.width for part in parts)
        height = sum(part.height for part in parts) + self.gap * (len(parts) - 1)
        canvas = Image.new("RGB", (width, height), "white")
        draw = ImageDraw.Draw(canvas)
        top = 0
        for index, part in enumerate(parts):
            if index:
                middle = top - self.gap // 2
                for x in range(8, width - 8, 12):
                    draw.line([(x, middle), (x + 6, middle)], fill="#8c959f", width=2)
            canvas.paste(part, (0, top))
            top += part.height + self.gap
        canvas.save(path)


def to_top(locator: Any) -> None:
    locator.evaluate("e => e.scrollIntoView({block: 'start'})")


def settle(page: Any, seconds: float = 1.5) -> None:
    """Charts and images draw a moment after their data arrives (no element says when)."""
    page.wait_for_timeout(seconds * 1000)


def run_heading(page: Any, name: str) -> Any:
    heading = page.get_by_role("heading", name=name, exact=True)
    heading.wait_for()
    return heading


# ----------------------------------------------------------------------------------- the shots
Shot = Callable[[Any, Demo, str], Any]  # (page, ids, base url) -> what to capture
SHOTS: dict[str, Shot] = {}


def shot(name: str) -> Callable[[Shot], Shot]:
    def register(function: Shot) -> Shot:
        SHOTS[name] = function
        return function

    return register


def runs_url(base: str, demo: Demo) -> str:
    return f"{base}/experiments/{demo.experiment_id}/runs?{TRAINING}"


def run_url(base: str, experiment_id: str, run_id: str, tail: str = "") -> str:
    return f"{base}/experiments/{experiment_id}/runs/{run_id}{tail}?{TRAINING}"


def open_run(page: Any, demo: Demo, base: str, tail: str = "") -> Any:
    page.goto(run_url(base, demo.experiment_id, demo.run_id, tail))
    name = next(n for n, i in demo.children.items() if i == demo.run_id)
    run_heading(page, name)
    close_assistant(page)
    return page.get_by_role("main")


def expanded_runs(page: Any, demo: Demo, base: str) -> None:
    page.goto(runs_url(base, demo))
    page.get_by_role("link", name=re.compile("^compare-")).first.wait_for()
    close_assistant(page)
    parent = page.get_by_role("gridcell").filter(
        has=page.get_by_role("link", name=re.compile("^compare-"))
    )
    parent.get_by_role("button").first.click()
    for name in demo.children:
        page.get_by_role("link", name=name, exact=True).first.wait_for()


@shot("runs-table")
def runs_table(page: Any, demo: Demo, base: str) -> Any:
    expanded_runs(page, demo, base)
    for name in demo.children:
        outline(page.get_by_role("link", name=name, exact=True).first)
    settle(page)
    return page.get_by_role("main")


@shot("experiments-list")
def experiments_list(page: Any, demo: Demo, base: str) -> Any:
    page.goto(f"{base}/experiments?{TRAINING}")
    page.get_by_role("link", name=EXPERIMENT, exact=True).wait_for()
    close_assistant(page)
    outline(page.get_by_role("row").filter(has=page.get_by_role("link", name=EXPERIMENT)))
    return page.get_by_role("main")


@shot("run-overview")
def run_overview(page: Any, demo: Demo, base: str) -> Any:
    main = open_run(page, demo, base)
    about = section(page, page.get_by_role("heading", name="About this run"))
    about.evaluate("(e, s) => { e.style.outline = s; e.style.outlineOffset = '2px'; }", HIGHLIGHT)
    datasets = section(page, page.get_by_role("heading", name="Datasets", exact=True))
    datasets.evaluate(
        "(e, s) => { e.style.outline = s; e.style.outlineOffset = '2px'; }", HIGHLIGHT
    )
    page.get_by_role("heading", name=re.compile(r"^Logged models")).wait_for()
    return main


@shot("run-metrics")
def run_metrics(page: Any, demo: Demo, base: str) -> Any:
    open_run(page, demo, base)
    heading = page.get_by_role("heading", name=re.compile(r"^Metrics \("))
    page.get_by_text("test_accuracy", exact=True).first.wait_for()
    outline(page.get_by_text(re.compile(r"^Model metrics \(")).first)
    to_top(heading)
    return section(page, heading)


@shot("run-parameters")
def run_parameters(page: Any, demo: Demo, base: str) -> Any:
    open_run(page, demo, base)
    heading = page.get_by_role("heading", name=re.compile(r"^Parameters \("))
    to_top(heading)
    page.get_by_text("model.name", exact=True).first.wait_for()
    outline(page.get_by_role("row").filter(has=page.get_by_text("data.test_size", exact=True)))
    return section(page, heading)


@shot("run-tags")
def run_tags(page: Any, demo: Demo, base: str) -> Any:
    open_run(page, demo, base)
    heading = page.get_by_role("heading", name="Tags", exact=True)
    to_top(heading)
    outline(page.get_by_text("author", exact=True).locator(".."))
    return section(page, heading)


@shot("run-datasets")
def run_datasets(page: Any, demo: Demo, base: str) -> Any:
    open_run(page, demo, base)
    heading = page.get_by_role("heading", name="Datasets", exact=True)
    to_top(heading)
    page.get_by_role("button", name=re.compile(r"^breast_cancer-train")).first.click()
    dialog = page.get_by_role("dialog").filter(has_text="datasets used")
    dialog.wait_for()
    outline(dialog.get_by_text("3 datasets used").locator(".."))
    settle(page)
    return dialog


@shot("run-model-metrics")
def run_model_metrics(page: Any, demo: Demo, base: str) -> Any:
    open_run(page, demo, base)
    page.get_by_role("tab", name="Model metrics").click()
    page.get_by_role("searchbox", name="Search metric charts").fill("loss")
    page.get_by_role("heading", name="val_loss", exact=True).wait_for()
    settle(page, 3)
    cards = [section(page, page.get_by_role("heading", name=n, exact=True), 200) for n in LOSSES]
    cards[0].evaluate("e => e.scrollIntoView({block: 'center'})")
    return Clip(page, cards)


@shot("system-metrics")
def system_metrics(page: Any, demo: Demo, base: str) -> Any:
    main = open_run(page, demo, base)
    tab = page.get_by_role("tab", name="System metrics")
    tab.click()
    page.get_by_text(re.compile("cpu_utilization")).first.wait_for()
    outline(tab)
    settle(page, 3)
    return main


def artifact(path: str, wait_for: str) -> Shot:
    def take(page: Any, demo: Demo, base: str) -> Any:
        main = open_run(page, demo, base, f"/artifacts/{path}")
        page.get_by_text(wait_for, exact=False).first.wait_for()
        leaf = path.rsplit("/", 1)[-1]
        outline(page.get_by_text(leaf, exact=True).first)
        settle(page, 2)
        return main

    return take


shot("run-artifacts-plot")(artifact("confusion_matrix.png", "confusion_matrix.png"))
# MLflow 3.17 previews no ``.lock`` file: the environment folder opens on the pip freeze beside it
shot("run-artifacts-environment")(artifact("environment/pip-freeze.txt", "pip-freeze.txt"))
shot("run-artifacts-source")(artifact("source/command.txt", "mlops-tracking demo"))
shot("run-artifacts-predictions")(
    artifact("predictions/test_predictions.json", "test_predictions.json")
)
shot("run-artifacts-objects")(artifact("objects/label_mapping.json", "label_mapping.json"))


@shot("chart-view")
def chart_view(page: Any, demo: Demo, base: str) -> Any:
    expanded_runs(page, demo, base)
    # the view switch is three unnamed radios (table, chart, artifacts): the middle one
    toggle = page.get_by_role("radiogroup").first
    box = toggle.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.get_by_role("searchbox", name="Search metric charts").fill("validation_log_loss")
    page.get_by_role("heading", name="validation_log_loss", exact=True).first.wait_for()
    outline(toggle)
    settle(page, 3)
    return page.get_by_role("main")


@shot("compare-runs")
def compare_runs(page: Any, demo: Demo, base: str) -> Any:
    runs = quote(json.dumps(list(demo.children.values())), safe="")
    experiments = quote(json.dumps([demo.experiment_id]), safe="")
    page.goto(f"{base}/compare-runs?runs={runs}&experiments={experiments}")
    for name in demo.children:
        page.get_by_text(name, exact=True).first.wait_for()
    close_assistant(page)
    page.get_by_text("Visualizations", exact=True).click()  # the run details, params, metrics
    outline(page.get_by_role("row").filter(has_text="Run Name:"))
    settle(page, 2)
    return page.get_by_role("main")


@shot("experiment-models")
def experiment_models(page: Any, demo: Demo, base: str) -> Any:
    page.goto(f"{base}/experiments/{demo.experiment_id}/models?{TRAINING}")
    page.get_by_role("link", name=re.compile("-pyfunc$")).first.wait_for()
    close_assistant(page)
    outline(page.get_by_role("link", name="Models", exact=True))
    return page.get_by_role("main")


@shot("logged-model")
def logged_model(page: Any, demo: Demo, base: str) -> Any:
    page.goto(f"{base}/experiments/{demo.experiment_id}/models/{demo.model_id}?{TRAINING}")
    page.get_by_text("validation_log_loss", exact=True).first.wait_for()
    close_assistant(page)
    outline(page.get_by_role("columnheader", name="Dataset"))
    return page.get_by_role("main")


@shot("registry-model")
def registry_model(page: Any, demo: Demo, base: str) -> Any:
    page.goto(f"{base}/models/{quote(EXPERIMENT, safe='')}?{TRAINING}")
    page.get_by_text("@ production").first.wait_for()
    close_assistant(page)
    page.get_by_text("Tags", exact=True).first.click()  # the audit trail's long JSON values
    page.get_by_text("audit.", exact=False).first.wait_for(state="hidden")
    # oldest first: version 1, the one holding the aliases, above the rejected version 2
    page.get_by_role("columnheader", name="Registered at").click()
    rows = page.get_by_role("row").filter(has=page.get_by_role("link", name=re.compile("^Version")))
    rows.first.filter(has_text="Version 1").wait_for()
    outline_text(page, r"^@\s*(staging|production)$")
    return page.get_by_role("main")


@shot("registry-version")
def registry_version(page: Any, demo: Demo, base: str) -> Any:
    page.goto(f"{base}/models/{quote(EXPERIMENT, safe='')}/versions/1?{TRAINING}")
    page.get_by_role("heading", name=f"{EXPERIMENT} version 1").wait_for()
    close_assistant(page)
    outline_text(page, r"^@\s*(staging|production)$")
    return page.get_by_role("main")


@shot("pipeline-run")
def pipeline_run(page: Any, demo: Demo, base: str) -> Any:
    page.goto(run_url(base, demo.pipeline_experiment_id, demo.pipeline_run_id))
    page.get_by_role("heading", name="Tags", exact=True).wait_for()
    close_assistant(page)
    page.evaluate(
        """style => {
            for (const e of document.querySelectorAll('main *')) {
                if (!e.children.length && e.textContent.startsWith('dvc.')) {
                    e.parentElement.style.outline = style;
                }
            }
        }""",
        HIGHLIGHT,
    )
    datasets = page.get_by_role("heading", name="Datasets", exact=True)
    tags = page.get_by_role("heading", name="Tags", exact=True)
    to_top(datasets)
    return Clip(page, [section(page, datasets), section(page, tags)])


# ------------------------------------------------------------------------- the sweep and report
def sweep_of(demo: Demo) -> Sweep:
    assert demo.sweep is not None, "read_ids reads the sweep store"
    return demo.sweep


def open_sweep(page: Any, demo: Demo, base: str, tail: str = "") -> Any:
    """The sweep's parent run page (``tail``: one of its tabs)."""
    sweep = sweep_of(demo)
    page.goto(run_url(base, sweep.experiment_id, sweep.parent_id, tail))
    run_heading(page, sweep.parent_name)
    close_assistant(page)
    return page.get_by_role("main")


def choose_columns(page: Any, names: tuple[str, ...]) -> None:
    """Tick or untick each named column in the runs table's Columns menu.

    Not through the menu's search box: it highlights the match inside longer names
    (``baseline_validation_log_loss``), so the first exact text would be the wrong column.
    """
    page.get_by_role("button", name="Columns").click()
    menu = page.get_by_role("dialog").filter(has=page.get_by_role("textbox", name="Search columns"))
    menu.wait_for()
    for name in names:
        menu.get_by_text(name, exact=True).first.click()
    page.keyboard.press("Escape")
    menu.wait_for(state="hidden")


def widen(page: Any, column: str, pixels: int) -> None:
    """Drag the resize handle of the runs table's column ``column`` (its col-id's last part)."""
    handle = page.locator(f'.ag-header-cell[col-id$="`{column}`"] .ag-header-cell-resize')
    handle.hover()  # the grid starts a resize only from a hovered handle
    box = handle.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.down()
    page.mouse.move(x + pixels, y, steps=10)
    page.mouse.up()


@shot("sweep-runs")
def sweep_runs(page: Any, demo: Demo, base: str) -> Any:
    sweep = sweep_of(demo)
    oldest_first = "orderByKey=attributes.start_time&orderByAsc=true"
    page.goto(f"{base}/experiments/{sweep.experiment_id}/runs?{TRAINING}&{oldest_first}")
    parent = page.get_by_role("link", name=sweep.parent_name, exact=True)
    parent.wait_for()
    close_assistant(page)
    choose_columns(page, ("Dataset", "Source", "Models", *SWEEP_METRIC, "sweep.trial_state"))
    for column, pixels in (("Run Name", 110), (SWEEP_METRIC[0], 60), ("sweep.trial_state", 30)):
        widen(page, column, pixels)
    page.get_by_role("gridcell").filter(has=parent).get_by_role("button").first.click()
    for name in (*sweep.trials, sweep.best_name):
        page.get_by_role("link", name=name, exact=True).first.wait_for()
    outline(page.get_by_role("link", name=sweep.best_name, exact=True).first)
    settle(page)
    return page.get_by_role("main")


@shot("sweep-chart")
def sweep_chart(page: Any, demo: Demo, base: str) -> Any:
    open_sweep(page, demo, base)
    page.get_by_role("tab", name="Model metrics").click()
    # between the two curves: best_validation_log_loss, the final best as one value
    page.get_by_role("searchbox", name="Search metric charts").fill("_validation_log_loss")
    for name in SWEEP_CURVES:
        page.get_by_role("heading", name=name, exact=True).wait_for()
    settle(page, 3)
    cards = [
        section(page, page.get_by_role("heading", name=n, exact=True), 200) for n in SWEEP_CURVES
    ]
    cards[0].evaluate("e => e.scrollIntoView({block: 'center'})")
    return Clip(page, cards)


@shot("sweep-plots")
def sweep_plots(page: Any, demo: Demo, base: str) -> Any:
    main = open_sweep(page, demo, base, "/artifacts/plots/sweep_history.png")
    page.get_by_text("sweep_history.png", exact=True).first.wait_for()
    outline(page.get_by_text("sweep_history.png", exact=True).first)
    settle(page, 2)
    return main


def open_report(page: Any, base: str) -> None:
    page.goto(base)
    page.get_by_role("heading", name=re.compile("^Run report: ")).wait_for()
    page.locator("img").first.wait_for()


@shot("report-page")
def report_page(page: Any, demo: Demo, base: str) -> Any:
    """The title, the runs and the differing params; under a dashed line, the metrics table's
    head and its validation rows (what models are chosen by; the rows above them are cut)."""
    open_report(page, base)
    title = page.get_by_role("heading", name=re.compile("^Run report: "))
    differing = page.locator("h2:text-is('Parameters') + p + table")
    outline(differing)
    metrics = page.locator("h2:text-is('Metrics') + table")
    validation = metrics.locator("tbody tr").filter(
        has=page.locator("td:first-child code", has_text=re.compile("^validation_"))
    )
    outline(validation.filter(has_text="validation_log_loss"))
    return Stack(
        [
            Clip(page, [title, differing], full_page=True),
            Clip(page, [page.locator("h2:text-is('Metrics')"), metrics.locator("thead")], 1, True),
            Clip(page, [validation.first, validation.last], 4, True),
        ]
    )


@shot("report-plots")
def report_plots(page: Any, demo: Demo, base: str) -> Any:
    """The plots section's heading and its first plots, one column per run."""
    open_report(page, base)
    heading = page.get_by_role("heading", name="Plots", exact=True)
    grids = page.locator("h2:text-is('Plots') ~ div.plots")
    to_top(heading)
    settle(page)
    return Clip(page, [heading, grids.nth(1)], full_page=True)


@shot("monitoring-run")
def monitoring_run(page: Any, demo: Demo, base: str) -> Any:
    """The tour's serving run: its request figures in the Metrics table."""
    run_id, name = demo.serving_run
    page.goto(run_url(base, demo.monitoring_experiment_id, run_id))
    run_heading(page, name)
    close_assistant(page)
    heading = page.get_by_role("heading", name=re.compile(r"^Metrics \("))
    page.get_by_text("serving/requests_total", exact=True).first.wait_for()
    to_top(heading)
    return section(page, heading, 120)


@shot("drift-report")
def drift_report(page: Any, demo: Demo, base: str) -> Any:
    """The tour's drift report: the verdict and the most shifted features."""
    page.goto(DRIFT.as_uri())
    page.get_by_role("heading", name=re.compile("^Drift of ")).wait_for()
    page.set_viewport_size({"width": 1200, "height": 760})
    return page


PIPELINE_SHOTS = {"pipeline-run"}
SWEEP_SHOTS = {"sweep-runs", "sweep-chart", "sweep-plots"}
REPORT_SHOTS = {"report-page", "report-plots", "drift-report"}


def groups(names: list[str]) -> dict[str, list[str]]:
    """The shots of each store's folder (``report``: the report page, opened from disk)."""
    folders = {"pipeline": PIPELINE_SHOTS, "sweep": SWEEP_SHOTS, "report": REPORT_SHOTS}
    chosen = {folder: [n for n in names if n in shots] for folder, shots in folders.items()}
    taken = {n for group in chosen.values() for n in group}
    return {"demo": [n for n in names if n not in taken], **chosen}


# ------------------------------------------------------------------------------------ capture
def capture(target: Any, path: Path) -> None:
    target.screenshot(path=str(path), animations="disabled", caret="hide")


def optimise(path: Path) -> int:
    """A palette PNG (256 colours, enough for a UI's flat colours), optimised; returns bytes."""
    from PIL import Image

    with Image.open(path) as image:
        rgb = image.convert("RGB")
    for colours in (256, 128, 64):
        rgb.quantize(
            colors=colours, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
        ).save(path, optimize=True)
        if path.stat().st_size < MAX_BYTES:
            break
    return path.stat().st_size


def take_shots(names: list[str], demo: Demo, base: str, browser: Any, sizes: dict) -> list[str]:
    failed = []
    for name in names:
        started = time.monotonic()
        context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1)
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        try:
            target = SHOTS[name](page, demo, base)
            path = IMAGES / f"{name}.png"
            capture(target, path)
            sizes[name] = optimise(path)
            with_size = f"{sizes[name] / 1000:.0f} KB"
            log(f"  {name:28} {with_size:>7}  {time.monotonic() - started:5.1f} s")
        except Exception as error:  # one broken page must not hide the others
            failed.append(name)
            (SCRATCH / f"{name}.aria.txt").write_text(page.locator("body").aria_snapshot())
            page.screenshot(path=str(SCRATCH / f"{name}.failed.png"))
            log(f"  {name:28} FAILED: {str(error).splitlines()[0]}")
        finally:
            context.close()
    return failed


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # still stop the servers (finally)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reuse", action="store_true", help="keep build/screenshots' stores")
    parser.add_argument("--only", default="", help="comma-separated shot names")
    options = parser.parse_args()
    names = [n for n in options.only.split(",") if n] or list(SHOTS)
    unknown = set(names) - set(SHOTS)
    if unknown:
        raise SystemExit(f"unknown shots: {', '.join(sorted(unknown))}")
    if not CHROMIUM.exists():
        raise SystemExit(f"{CHROMIUM} is missing: apt-get install -y chromium")
    started = time.monotonic()
    stores = [SCRATCH / folder / "mlflow.db" for folder in ("demo", "pipeline", "sweep")]
    if options.reuse and all(store.exists() for store in stores):
        log(f"Reusing the stores in {SCRATCH.relative_to(REPO)}")
    else:
        log(f"Demo, pipeline walk-through and sweep in {SCRATCH.relative_to(REPO)} (minutes)")
        make_stores()
    demo = read_ids()
    if not (options.reuse and REPORT.exists()):
        make_report(demo)
    make_drift_page(demo)
    IMAGES.mkdir(parents=True, exist_ok=True)
    sizes: dict[str, int] = {}
    failed: list[str] = []
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            for folder, group in groups(names).items():
                if not group:
                    continue
                if folder == "report":  # a file, no server
                    failed += take_shots(group, demo, REPORT.as_uri(), browser, sizes)
                    continue
                with ui_server(SCRATCH / folder) as base:
                    failed += take_shots(group, demo, base, browser, sizes)
        finally:
            browser.close()
    log("\n  shot                          size")
    for name in names:
        size = f"{sizes[name] / 1000:.0f} KB" if name in sizes else "FAILED"
        log(f"  {name:28} {size:>7}")
    log(f"  {'total':28} {sum(sizes.values()) / 1000:.0f} KB")
    log(f"{len(sizes)}/{len(names)} screenshots in {time.monotonic() - started:.0f} s")
    if failed:
        raise SystemExit(
            f"failed: {', '.join(failed)} (see {SCRATCH.relative_to(REPO)}/*.aria.txt)"
        )


if __name__ == "__main__":
    sys.exit(main())
