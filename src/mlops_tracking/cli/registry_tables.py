"""Readable terminal output for the registry: versions, the audit trail, lineage, decisions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rich.table import Table

if TYPE_CHECKING:
    from rich.console import Console

    from mlops_tracking.core.promotion import TrailEntry
    from mlops_tracking.registry.tour import LifecycleTour

DECISION_STYLE = {
    "promoted": "green",
    "rolled_back": "yellow",
    "rejected": "red",
    "serving": "green",
    "stopped": "dim",
    "failed": "red",
}
UNSURE = ("unknown", "serving?")  # a serving record that cannot be confirmed from here


def _value(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def models_table(models: list[dict[str, Any]]) -> Table:
    table = Table(title="Registered models", title_justify="left", header_style="bold")
    for column in ("model", "versions", "aliases", "serving"):
        table.add_column(column)
    for model in models:
        aliases = ", ".join(f"{a}→v{v}" for a, v in sorted(model["aliases"].items()))
        table.add_row(model["name"], str(model["versions"]), aliases or "-", model["serving"])
    return table


def model_versions_table(name: str, rows: list[dict[str, Any]], metrics: list[str]) -> Table:
    """One row per version: aliases, lifecycle, deployment status, family, key metrics."""
    table = Table(title=f"Model {name}", title_justify="left", header_style="bold")
    for column in ("version", "aliases", "lifecycle", "deployment", "family", "run"):
        table.add_column(column, no_wrap=column == "run")
    for metric in metrics:
        table.add_column(metric.removeprefix("test_"), justify="right")
    table.add_column("registered")
    for row in rows:
        tags = row["tags"]
        status = tags.get("deployment.status", "-")
        style = DECISION_STYLE.get(status, "yellow" if status.startswith(UNSURE) else "")
        table.add_row(
            row["version"],
            ", ".join(row["aliases"]) or "-",
            tags.get("lifecycle", "-"),
            f"[{style}]{status}[/]" if style else status,
            tags.get("model.family", "-"),
            row["run_id"][:12],
            *(_value(row["metrics"].get(metric)) for metric in metrics),
            datetime.fromtimestamp(row["created"] / 1000, UTC).strftime("%Y-%m-%d %H:%M"),
        )
    return table


def serving_table(name: str, rows: list[dict[str, Any]]) -> Table | None:
    """The latest monitoring figures of each version that has been served or checked."""
    watched = [
        row
        for row in rows
        if "monitoring.run_id" in row["tags"] or "monitoring.drift" in row["tags"]
    ]
    if not watched:
        return None
    table = Table(
        title=f"Monitoring of {name} (latest serving run and drift check)",
        title_justify="left",
        header_style="bold",
    )
    for column in ("version", "requests", "errors", "p50 ms", "p95 ms"):
        table.add_column(column, justify="left" if column == "version" else "right")
    table.add_column("drift")
    table.add_column("monitoring run", no_wrap=True)
    for row in watched:
        tags = row["tags"]
        drift = tags.get("monitoring.drift", "-")
        features = tags.get("monitoring.drift_features", "")
        shown = f"[red]drifted[/]: {features}" if drift == "true" else drift
        table.add_row(
            row["version"],
            tags.get("monitoring.requests", "-"),
            tags.get("monitoring.errors", "-"),
            tags.get("monitoring.latency_p50_ms", "-"),
            tags.get("monitoring.latency_p95_ms", "-"),
            shown.replace("false", "none"),
            tags.get("monitoring.run_id", "-")[:12],
        )
    return table


def trail_table(name: str, entries: list[TrailEntry], limit: int = 30) -> Table:
    """The audit trail, newest last: who decided what about which alias, and why.

    "by" is the git author, and in brackets the user a tracking server authenticated.
    """
    table = Table(title=f"Audit trail of {name}", title_justify="left", header_style="bold")
    for column in ("when (UTC)", "action", "alias", "version", "from", "decision", "by"):
        table.add_column(column, no_wrap=True)
    table.add_column("evidence / reason")
    for entry in entries[-limit:]:
        style = DECISION_STYLE.get(entry.decision, "")
        table.add_row(
            entry.at.replace("T", " ")[:19],
            entry.action,
            entry.alias or "-",
            entry.version,
            entry.previous or "-",
            f"[{style}]{entry.decision}[/]" if style else entry.decision,
            f"{entry.by} ({entry.user})" if entry.user else entry.by,
            entry.reason or "-",
        )
    return table


NOT_RECORDED = "not recorded"


def _shown(value: Any) -> str:
    """A lineage value as printed: what a run did not record says so, never ``None``."""
    return NOT_RECORDED if value is None or value == "" else str(value)


def lineage_lines(lineage: dict[str, Any], metrics: dict[str, float]) -> list[str]:
    """Lineage as indented lines: version → run → params and metrics → datasets → commit.

    ``metrics`` are the ones worth showing; when the run logged none of them (a run made with
    plain MLflow calls names its metrics freely), its own metrics are shown instead.
    """
    model, run, code = lineage["model"], lineage["run"], lineage["code"]
    lines = _model_lines(model)
    parent = run["parent"]
    task = _shown(run["task"]) + _TASK_SOURCE.get(run.get("task_from", "tag"), "")
    deleted = "  [bold red]DELETED[/]" if run.get("deleted") else ""
    lines += [
        f"[bold]run[/] {run['name']} ({run['id']})  experiment {run['experiment']['name']} "
        f"(id {run['experiment']['id']})  {run['status']}{deleted}",
        f"  started {_shown(run['start'])}  ended {_shown(run['end'])}  by {_shown(run['author'])}",
        f"  task {task}  model family {_shown(run['family'])}",
        f"  parent run: {parent['name']} ({parent['id']})" if parent else "  parent run: none",
        "[bold]params[/] " + _key_params(lineage["params"]),
        "[bold]metrics[/] " + (_metrics(metrics) if metrics else _own_metrics(lineage["metrics"])),
        "[bold]datasets[/]" + ("" if lineage["datasets"] else f" {NOT_RECORDED}"),
        *(
            f"  {_shown(d['context']):<10} {d['name']}  digest {d['digest']}  "
            f"rows {_shown(d['rows'])}  source {_shown(d['source'])}"
            for d in lineage["datasets"]
        ),
        f"[bold]code[/] commit {_shown(code['commit'])}  branch {_shown(code['branch'])}  "
        f"dirty {_shown(code['dirty'])}",
        f"  command: {_shown(code['command'])}",
        "[bold]environment[/] "
        + (
            ", ".join(f"{k} {v}" for k, v in sorted(lineage["environment"].items())) or NOT_RECORDED
        ),
    ]
    return lines


_TASK_SOURCE = {
    "metric names": " (from its metric names)",
    "default": " (assumed: the run records neither a task nor metrics)",
}


def _model_lines(model: dict[str, Any]) -> list[str]:
    lines = []
    if model.get("name"):
        lines.append(
            f"[bold]{model['name']} version {model['version']}[/]  aliases: "
            f"{', '.join(model['aliases']) or 'none'}  "
            f"lifecycle: {_shown(model.get('lifecycle'))}  "
            f"deployment: {model.get('deployment_status') or 'never served'}"
        )
        if model.get("onnx"):
            lines.append(f"  ONNX form: {model['onnx']['name']} version {model['onnx']['version']}")
    status = model.get("status")
    state = f"  (status {status}: not completely written)" if status and status != "READY" else ""
    lines.append(f"  logged model: {_shown(model['logged_model'])}{state}")
    return lines


def _metrics(metrics: dict[str, float]) -> str:
    return ", ".join(f"{k}={v:.4g}" for k, v in metrics.items()) or NOT_RECORDED


def _own_metrics(metrics: dict[str, float], limit: int = 12) -> str:
    own = {k: v for k, v in sorted(metrics.items()) if not k.startswith("system/")}
    shown = _metrics(dict(list(own.items())[:limit]))
    return shown + (f"  (+{len(own) - limit} more with --json)" if len(own) > limit else "")


_DATA_KEYS = ("data.dataset", "data.path", "data.target", "data.seed", "data.test_size")


def _key_params(params: dict[str, str], limit: int = 12) -> str:
    """The params that say what was trained on what; the rest are one ``--json`` away.

    A run that does not name its params as this project does (``model.*``, ``data.*``) shows
    its own, up to ``limit``.
    """
    shown = {k: v for k, v in params.items() if k.startswith("model.") or k in _DATA_KEYS}
    if not shown:
        shown = dict(list(params.items())[:limit])
    rest = len(params) - len(shown)
    text = ", ".join(f"{k}={v}" for k, v in shown.items()) or NOT_RECORDED
    return text + (f"  (+{rest} more with --json)" if rest else "")


def print_tour(console: Console, tour: LifecycleTour) -> None:
    """The demo's registry tour: registrations, the trail, the served answer, the lineage."""
    from mlops_tracking.core.model_card import key_metrics
    from mlops_tracking.runs.ui import run_url

    console.print(f"\n[bold]Registry lifecycle of {tour.name}[/]")
    for done in tour.registered:
        console.print(f"  registered version {done.version.version} (card: {done.card_artifact})")
    console.print(trail_table(tour.name, [decision.entry for decision in tour.decisions]))
    console.print(f"Served production at {tour.served}; one request answered:\n  {tour.response}")
    if tour.figures:
        figures = tour.figures
        console.print(
            f"Its monitoring run counted {figures.get('monitoring.requests', '0')} request(s), "
            f"{figures.get('monitoring.errors', '0')} error(s), "
            f"p50 {figures.get('monitoring.latency_p50_ms', '-')} ms inside the server:"
        )
        console.print(f"  {run_url(*tour.monitoring_run)}", soft_wrap=True, highlight=False)
    console.print(f"\n[bold]Lineage of {tour.name}@production[/]")
    metrics = key_metrics(tour.lineage["metrics"], tour.lineage["run"]["task"])
    for line in lineage_lines(tour.lineage, metrics):
        console.print(line, soft_wrap=True)
    if tour.drift is not None and tour.drift.report is not None:
        report = tour.drift.report
        style = "red" if report.drifted else "green"
        console.print(
            f"Drift check of a test-split copy with {tour.shifted!r} moved 2 sd: "
            f"[{style}]{report.summary()}[/]",
            highlight=False,
        )
        url = run_url(tour.drift.experiment_id, tour.drift.run_id)
        console.print(f"  {url}", soft_wrap=True, highlight=False)
    console.print(f"More: mlops-tracking models {tour.name}")
