"""Regenerate docs/images/*.png: real MLflow UI pages of a scratch demo store, in a real browser.

In build/screenshots (wiped first) this runs ``mlops-tracking demo`` (store ``demo/mlflow.db``)
and, at the same time, ``scripts/pipeline-demo.sh`` (its own store, ``pipeline/mlflow.db``).
Each store is served by ``mlflow server`` on a free local port, and Debian's Chromium
(``/usr/bin/chromium``, driven by Playwright; no browser is downloaded) opens every page in a
fresh context at a fixed viewport, waits for the page's real content, outlines the element the
picture is about, crops to the part of the page it documents and writes docs/images/NAME.png as
a palette PNG under 300 KB. Nothing leaves 127.0.0.1.

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
HIGHLIGHT = "3px solid #e8590c"
ENV = {
    **os.environ,
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "DVC_NO_ANALYTICS": "1",
    "COLUMNS": "150",
}


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
    urls: dict[str, str] = field(default_factory=dict)


def log(message: str) -> None:
    print(message, flush=True)


# ----------------------------------------------------------------------------------- the stores
def make_stores() -> None:
    """The demo and the pipeline walk-through, side by side (two cores: about the demo's time)."""
    shutil.rmtree(SCRATCH, ignore_errors=True)
    (SCRATCH / "demo").mkdir(parents=True)
    demo_log = (SCRATCH / "demo.log").open("w")
    pipeline_log = (SCRATCH / "pipeline.log").open("w")
    demo_env = {**ENV, "MLFLOW_TRACKING_URI": f"sqlite:///{SCRATCH / 'demo' / 'mlflow.db'}"}
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
    }
    started = time.monotonic()
    failed = []
    for name, job in jobs.items():
        code = job.wait()
        log(f"  {name}: exit {code} after {time.monotonic() - started:.0f} s")
        if code != 0:
            failed.append(name)
    demo_log.close()
    pipeline_log.close()
    if failed:
        for file in ("demo.log", "pipeline.log"):
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
    return demo


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

    def screenshot(self, path: str, **options: Any) -> None:
        boxes = [part.bounding_box() for part in self.parts]
        left = min(b["x"] for b in boxes) - self.pad
        top = min(b["y"] for b in boxes) - self.pad
        right = max(b["x"] + b["width"] for b in boxes) + self.pad
        bottom = max(b["y"] + b["height"] for b in boxes) + self.pad
        left, top = max(left, 0), max(top, 0)
        right = min(right, VIEWPORT["width"])
        bottom = min(bottom, VIEWPORT["height"])
        clip = {"x": left, "y": top, "width": right - left, "height": bottom - top}
        self.page.screenshot(path=path, clip=clip, **options)


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


PIPELINE_SHOTS = {"pipeline-run"}


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
    if options.reuse and (SCRATCH / "pipeline" / "mlflow.db").exists():
        log(f"Reusing the stores in {SCRATCH.relative_to(REPO)}")
    else:
        log(f"Demo and pipeline walk-through in {SCRATCH.relative_to(REPO)} (a few minutes)")
        make_stores()
    demo = read_ids()
    IMAGES.mkdir(parents=True, exist_ok=True)
    sizes: dict[str, int] = {}
    failed: list[str] = []
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            for folder, group in (
                ("demo", [n for n in names if n not in PIPELINE_SHOTS]),
                ("pipeline", [n for n in names if n in PIPELINE_SHOTS]),
            ):
                if group:
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
