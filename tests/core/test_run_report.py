"""The run comparison and its HTML and Markdown, built from plain data (no store)."""

from __future__ import annotations

import base64
import re
from dataclasses import replace

import pytest

from mlops_tracking.core.report_html import render_html
from mlops_tracking.core.report_markdown import fenced, render_markdown
from mlops_tracking.core.run_report import (
    CommitDiff,
    DatasetInput,
    RunFacts,
    build_report,
    clip,
    metric_direction,
    parse_pip_freeze,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 16  # the signature is all a test of embedding needs


def facts(run_id: str, **fields: object) -> RunFacts:
    base = RunFacts(
        run_id=run_id,
        name=f"run-{run_id[:4]}",
        experiment_id="1",
        experiment="wine-multiclass",
        status="FINISHED",
        start_time=1_700_000_000_000,
        end_time=1_700_000_012_500,
        url=f"http://127.0.0.1:5000/#/experiments/1/runs/{run_id}",
    )
    return replace(base, **fields)  # type: ignore[arg-type]


REFERENCE = facts(
    "aaaa1111" * 4,
    params={"model.name": "mlp", "data.seed": "42", "only.here": "x"},
    metrics={"validation_log_loss": 0.50, "validation_accuracy": 0.80, "fit_seconds": 2.0},
    tags={"model.family": "mlp", "mlflow.source.git.commit": "1" * 40, "dvc.params_digest": "d1"},
    datasets=(DatasetInput("wine", "abc123", '{"uri": "sklearn"}', "training"),),
    packages={"numpy": "2.1.0", "pandas": "2.2.3"},
    python="3.11.2",
    plots={"plots/confusion_matrix.png": PNG, "plots/roc_curve.png": PNG},
)
OTHER = facts(
    "bbbb2222" * 4,
    params={"model.name": "random_forest", "data.seed": "42"},
    metrics={"validation_log_loss": 0.40, "validation_accuracy": 0.70, "fit_seconds": 3.0},
    tags={"model.family": "random_forest", "mlflow.source.git.commit": "2" * 40},
    datasets=(DatasetInput("wine", "def456", '{"uri": "sklearn"}', "training"),),
    packages={"numpy": "2.2.0", "pandas": "2.2.3"},
    python="3.11.2",
    plots={"plots/confusion_matrix.png": PNG},
)
DIFF = CommitDiff("1" * 40, "2" * 40, "-old line\n+new line\n", "git diff 111 222")


def test_params_are_split_into_differing_equal_and_present_in_one_run_only() -> None:
    report = build_report([REFERENCE, OTHER], [DIFF])

    assert [row.key for row in report.params_differing] == ["model.name"]
    assert report.params_differing[0].values == ("mlp", "random_forest")
    assert [row.key for row in report.params_equal] == ["data.seed"]
    assert [(row.key, row.values) for row in report.params_partial] == [("only.here", ("x", None))]


def test_metric_deltas_are_against_the_reference_and_name_the_better_run() -> None:
    report = build_report([REFERENCE, OTHER], [DIFF])
    rows = {row.key: row for row in report.metrics}

    loss = rows["validation_log_loss"].deltas[0]
    assert loss is not None
    assert loss.absolute == pytest.approx(-0.10)
    assert loss.relative == pytest.approx(-0.20)
    assert loss.verdict == "better"  # lower log loss: the compared run wins
    accuracy = rows["validation_accuracy"].deltas[0]
    assert accuracy is not None and accuracy.verdict == "worse"
    timing = rows["fit_seconds"].deltas[0]
    assert timing is not None and timing.verdict is None  # the name says no direction

    html = render_html(report)
    assert f"{OTHER.label} better (lower is better)" in html
    assert f"{REFERENCE.label} better (higher is better)" in html
    assert "-0.1 (-20.0%)" in html


@pytest.mark.parametrize(
    ("key", "goal"),
    [
        ("validation_log_loss", "minimize"),
        ("test_rmse", "minimize"),
        ("training_mean_squared_error", "minimize"),
        ("test_f1_macro", "maximize"),
        ("training_accuracy_score", "maximize"),
        ("baseline_margin", "maximize"),
        ("baseline_test_accuracy", None),
        ("fit_seconds", None),
        ("system/cpu_utilization_percentage", None),
    ],
)
def test_metric_direction_comes_from_the_name(key: str, goal: str | None) -> None:
    assert metric_direction(key) == goal


def test_a_reference_of_zero_has_no_relative_delta() -> None:
    report = build_report(
        [facts("a" * 32, metrics={"test_mae": 0.0}), facts("b" * 32, metrics={"test_mae": 1.0})],
        [DIFF],
    )
    change = report.metrics[0].deltas[0]
    assert change is not None and change.absolute == 1.0 and change.relative is None


def test_plots_share_a_row_and_one_only_one_run_has_is_still_shown() -> None:
    html = render_html(build_report([REFERENCE, OTHER], [DIFF]))

    images = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert len(images) == 3  # two confusion matrices, one ROC curve
    assert all(base64.b64decode(image).startswith(b"\x89PNG\r\n\x1a\n") for image in images)
    roc = html.split("plots/roc_curve.png</code></h3>")[1].split("</div>")[0]
    assert roc.count("<figure>") == 2 and "not logged by this run" in roc


def test_data_code_and_environment_differences_are_shown() -> None:
    report = build_report([REFERENCE, OTHER], [DIFF])
    html = render_html(report)

    assert report.datasets[0].differs  # same name, other digest
    assert "abc123" in html and "def456" in html
    assert "dvc.params_digest" in html
    assert "+new line" in html and "111111111111" in html and "222222222222" in html
    numpy = next(row for row in report.packages if row.key == "numpy")
    assert numpy.values == ("2.1.0", "2.2.0") and numpy.differs
    assert "1 differ, 1 are the same" in html


def test_everything_a_run_logged_is_escaped_in_html() -> None:
    hostile = facts(
        "c" * 32,
        name="<script>alert(1)</script>",
        params={"model.name": '"><img src=x onerror=alert(1)>'},
        dirty_diff="+<b>bold</b>\n",
    )
    html = render_html(build_report([REFERENCE, hostile], [DIFF]))

    assert "<script>alert" not in html and "<img src=x" not in html and "<b>bold" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html


def test_markdown_has_the_tables_and_a_diff_no_fence_inside_can_close() -> None:
    tricky = CommitDiff("1" * 40, "2" * 40, "+```python\n+x | y\n", "git diff 111 222")
    text = render_markdown(build_report([REFERENCE, OTHER], [tricky]), "report.html")

    assert "| model.name | mlp | random_forest |" in text.replace("**", "")
    assert "| validation_log_loss | 0.5 | 0.4 | -0.1 (-20.0%) |" in text
    assert "````diff\n+```python\n+x | y\n````" in text
    assert "| plots/roc_curve.png | yes | not logged |" in text
    assert "data:image" not in text


def test_fence_outgrows_backticks_and_clip_cuts_at_a_line_end() -> None:
    assert fenced("a ````` b")[0] == "``````"
    assert clip("one\ntwo\nthree\n", 9) == ("one\ntwo\n", True)
    assert clip("short", 9) == ("short", False)


def test_pip_freeze_lines_are_read_by_normalised_name() -> None:
    packages = parse_pip_freeze(
        "# comment\nscikit_learn==1.7.2\nMLflow==3.17.2\nmine @ file:///src/mine\n\n"
    )
    assert packages == {"scikit-learn": "1.7.2", "mlflow": "3.17.2", "mine": "file:///src/mine"}


def test_a_run_without_logged_environment_says_not_logged() -> None:
    bare = facts("d" * 32)
    report = build_report([REFERENCE, bare], [CommitDiff(None, None, None, "No diff: none")])
    html = render_html(report)

    assert report.packages[0].values[1] is None
    assert "not logged" in html and "No diff: none" in html


def test_one_run_is_no_comparison() -> None:
    with pytest.raises(ValueError, match="at least two runs"):
        build_report([REFERENCE], [])
