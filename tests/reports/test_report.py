"""``mlops-tracking report`` on runs in a real store, read back with ``MlflowClient``."""

from __future__ import annotations

import base64
import re
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import ForeignStore, RegistryStore, cli

runner = CliRunner()
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _invoke(*args: str):  # type: ignore[no-untyped-def]
    from mlops_tracking.cli.app import app

    result = runner.invoke(app, list(args), catch_exceptions=False)
    result.text = " ".join(result.output.split())  # free of the terminal's line wrapping
    return result


def _png_artifacts(client, run_id: str, path: str | None = None) -> list[str]:  # type: ignore[no-untyped-def]
    found = []
    for entry in client.list_artifacts(run_id, path):
        if entry.is_dir:
            found += _png_artifacts(client, run_id, entry.path)
        elif entry.path.endswith(".png"):
            found.append(entry.path)
    return found


def _embedded_images(html: str) -> list[bytes]:
    return [
        base64.b64decode(data) for data in re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    ]


def test_report_on_two_trained_runs_has_params_deltas_images_and_markdown(
    registry_store: RegistryStore, client, tmp_path: Path
) -> None:
    best, forest = registry_store.runs[0], registry_store.runs[1]
    result = _invoke("report", best, forest, "--out", "out/compare.html")

    assert result.exit_code == 0, result.output
    html = (tmp_path / "out" / "compare.html").read_text(encoding="utf-8")
    markdown = (tmp_path / "out" / "compare.md").read_text(encoding="utf-8")
    first, second = client.get_run(best).data, client.get_run(forest).data
    assert first.params["model.name"] != second.params["model.name"]
    for values in (html, markdown):
        assert first.params["model.name"] in values and second.params["model.name"] in values
    delta = second.metrics["test_log_loss"] - first.metrics["test_log_loss"]
    assert f"{delta:+.4g}" in html and f"{delta:+.4g}" in markdown
    assert "better (lower is better)" in html
    plots = {*_png_artifacts(client, best), *_png_artifacts(client, forest)}
    assert "confusion_matrix.png" in " ".join(plots)
    images = _embedded_images(html)
    assert len(images) == len(_png_artifacts(client, best)) + len(_png_artifacts(client, forest))
    assert all(image.startswith(PNG_SIGNATURE) for image in images)
    assert "Same commit" in html  # both trained from this checkout
    dvc = [key for key in first.tags if key.startswith("dvc.")]
    assert dvc and all(f"<code>{key}</code>" in html for key in dvc)  # dvc.available at least
    for run_id in (best, forest):
        assert f"#/experiments/{client.get_run(run_id).info.experiment_id}/runs/{run_id}" in html
    assert "Report: out/compare.html" in result.text and "Markdown: out/compare.md" in result.text
    shared = first.params.keys() & second.params.keys()
    differing = sum(first.params[key] != second.params[key] for key in shared)
    assert f"Parameters: {differing} differ" in result.text
    assert "validation_log_loss" in result.text


def _git(repository: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repository), *args], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def _scratch_repository(folder: Path) -> list[str]:
    """A git repository with two commits of one file; their ids."""
    folder.mkdir()
    _git(folder, "init", "-q")
    _git(folder, "config", "user.email", "test@example.com")
    _git(folder, "config", "user.name", "Test")
    commits = []
    for value in ("0.1", "0.01"):
        (folder / "train.py").write_text(f"learning_rate = {value}\n", encoding="utf-8")
        _git(folder, "add", "train.py")
        _git(folder, "commit", "-q", "-m", f"learning rate {value}")
        commits.append(_git(folder, "rev-parse", "HEAD"))
    return commits


def _plain_run(commit: str, dirty: str, loss: float) -> str:
    """A run logged with plain MLflow calls: a commit tag, a dirty diff and a plot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mlflow

    mlflow.set_experiment("code-versions")
    with mlflow.start_run() as run:
        mlflow.log_param("learning_rate", commit[:4])
        mlflow.log_metric("val_loss", loss)
        mlflow.log_text(dirty, "source/git.diff")
        figure, axes = plt.subplots()
        axes.plot([1, 2, 3], [loss, loss / 2, loss / 3])
        mlflow.log_figure(figure, "plots/loss.png")
        plt.close(figure)
    mlflow.MlflowClient().set_tag(run.info.run_id, "mlflow.source.git.commit", commit)
    return str(run.info.run_id)


def test_report_shows_the_diff_between_commits_and_each_dirty_diff(tmp_path: Path, client) -> None:
    old, new = _scratch_repository(tmp_path / "repo")
    first = _plain_run(old, "+print('dirty one')\n", 0.5)
    second = _plain_run(new, "+print('dirty two')\n", 0.25)

    result = _invoke("report", first, second, "--repo", str(tmp_path / "repo"))

    assert result.exit_code == 0, result.output
    page = Path("build/reports") / f"report-{first[:8]}-{second[:8]}.html"
    html = page.read_text(encoding="utf-8")
    markdown = page.with_suffix(".md").read_text(encoding="utf-8")
    assert client.get_run(second).data.tags["mlflow.source.git.commit"] == new
    for text in (html, markdown):
        assert "-learning_rate = 0.1\n+learning_rate = 0.01" in text
        assert "dirty one" in text and "dirty two" in text
    assert f"{old[:12]}" in html and f"{new[:12]}" in html
    assert "val_loss" in html and "-0.25 (-50.0%)" in html
    images = _embedded_images(html)
    assert len(images) == 2 and all(image.startswith(PNG_SIGNATURE) for image in images)


def test_commits_missing_from_the_repository_are_said_not_diffed(tmp_path: Path) -> None:
    first = _plain_run("a" * 40, "+x\n", 1.0)
    second = _plain_run("b" * 40, "+y\n", 2.0)
    (tmp_path / "empty").mkdir()
    _git(tmp_path / "empty", "init", "-q")

    result = _invoke("report", first, second, "--repo", str(tmp_path / "empty"), "--out", "r.html")

    assert result.exit_code == 0, result.output
    html = Path("r.html").read_text(encoding="utf-8")
    assert "commit aaaaaaaaaaaa, bbbbbbbbbbbb is not in the repository" in html


def test_runs_made_with_plain_mlflow_calls_are_compared(
    foreign_store: ForeignStore, client
) -> None:
    example, autolog = foreign_store.runs["example"], foreign_store.runs["autolog"]

    result = _invoke("report", example, autolog, "--out", "plain.html")

    assert result.exit_code == 0, result.output
    html = Path("plain.html").read_text(encoding="utf-8")
    tags = client.get_run(autolog).data.tags
    assert tags["estimator_name"] in html  # autolog's model family
    assert "accuracy" in html  # the example's metric, which autolog's run lacks
    assert "No run logged its packages" in html
    autolog_plots = _png_artifacts(client, autolog)
    assert len(_embedded_images(html)) == len(autolog_plots)
    if autolog_plots:  # a plot only one run has is still shown, beside a placeholder
        assert "not logged by this run" in html
    for item in client.get_run(example).inputs.dataset_inputs:
        assert item.dataset.digest in html


def test_an_unknown_run_fails_before_anything_is_written(registry_store: RegistryStore) -> None:
    result = _invoke("report", registry_store.runs[0], "0123456789abcdef")

    assert result.exit_code == 2
    assert "error: no run '0123456789abcdef' in the tracking store" in result.text
    assert not Path("build").exists()


def test_one_run_or_one_run_twice_is_a_usage_error(registry_store: RegistryStore) -> None:
    run = registry_store.runs[0]
    alone = _invoke("report", run)
    twice = _invoke("report", run, run)

    assert alone.exit_code == 2 and "a report compares two or more runs; 1 given" in alone.text
    assert twice.exit_code == 2 and f"run {run} is given more than once" in twice.text
    assert not Path("build").exists()


@pytest.mark.slow
def test_report_from_the_command_line_writes_beside_the_default_page(
    registry_store: RegistryStore,
) -> None:
    runs = registry_store.runs
    result = cli("report", *runs)

    assert result.returncode == 0, result.stderr
    page = Path("build/reports") / f"report-{runs[0][:8]}-{runs[1][:8]}.html"
    assert page.is_file() and page.with_suffix(".md").is_file()
    html = page.read_text(encoding="utf-8")
    assert all(run in html for run in runs)  # three runs, the first the reference
    assert "Warning" not in result.stdout and result.stderr == ""
