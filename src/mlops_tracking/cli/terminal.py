"""Terminal plumbing for the CLI: console, progress bar, quiet libraries, errors to exit codes."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress


def console() -> Console:
    from rich.console import Console

    terminal = Console(highlight=False)
    if not terminal.is_terminal and "COLUMNS" not in os.environ:
        # Logs and CI output are read later in wide viewers; Rich's 80-column default would
        # fold run ids and metric names.
        return Console(highlight=False, width=150)
    return terminal


def quiet_libraries() -> None:
    """Keep MLflow's INFO chatter (schema creation, system-metrics threads) off the terminal."""
    import logging
    import warnings

    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    # MLflow (re)configures its logger at import from MLFLOW_LOGGING_LEVEL, default INFO.
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    # Our own bar shows progress; MLflow's per-download bars would interleave with it.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("mlflow.sklearn").addFilter(SklearnFlavorFilter())
    # MLflow 3.17 calls pandas APIs that pandas 3.1 deprecates; nothing a user can act on.
    warnings.filterwarnings("ignore", module=r"mlflow\..*", category=FutureWarning)
    try:
        from pandas.errors import Pandas4Warning

        warnings.filterwarnings("ignore", category=Pandas4Warning)
    except ImportError:
        pass


# MLflow warns about pickle once per pickled model, in a paragraph with a link, before the first
# line of output. The CLI says it once in its own words (``PICKLE_NOTE``) where the pickled
# model is listed, so MLflow's version is dropped.
_PICKLE_WARNING = "Saving scikit-learn models in the pickle or cloudpickle format"

PICKLE_NOTE = (
    "Note: loading a pickle-format model runs any code its file contains, so load one only from "
    "a store you trust; the sklearn format (saved with skops) is the safe one. "
    "tracking.model_formats chooses the formats logged."
)


def print_pickle_note(model_formats: Iterable[str]) -> None:
    """Say the pickle format's risk once, when a command has just logged a pickled model."""
    if "pickle" in model_formats:
        console().print(PICKLE_NOTE, markup=False)


class SklearnFlavorFilter:
    """Drop MLflow's pickle warning (``PICKLE_NOTE`` replaces it); let other messages through once.

    MLflow repeats its scikit-learn flavor warnings for every model it logs.
    """

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def filter(self, record: object) -> bool:
        message = str(getattr(record, "msg", ""))
        if message.startswith(_PICKLE_WARNING) or message in self.seen:
            return False
        self.seen.add(message)
        return True


class BarProgress:
    """The workflows' Progress protocol on a Rich bar that appears at the first step.

    Nothing is drawn while input is still being validated, so an error message is not preceded
    by an empty bar.
    """

    def __init__(self, total: int) -> None:
        self.total = total
        self.bar: Progress | None = None
        self.task: Any = None

    def begin(self, total: int) -> None:
        self.total = total
        if self.bar is not None:
            self.bar.update(self.task, total=total)

    def step(self, description: str) -> None:
        if self.bar is None:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            columns = (
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
            )
            self.bar = Progress(*columns, console=console())
            self.bar.start()
            self.task = self.bar.add_task(description, total=self.total)
            return
        self.bar.advance(self.task)
        self.bar.update(self.task, description=description)

    def close(self, completed: bool) -> None:
        if self.bar is None:
            return
        if completed:
            self.bar.update(self.task, completed=self.total, description="done")
        self.bar.stop()


@contextmanager
def progress(total: int) -> Iterator[BarProgress]:
    bar = BarProgress(total)
    completed = False
    try:
        yield bar
        completed = True
    finally:
        bar.close(completed)


_SETTINGS = {"tracebacks": False}


def show_tracebacks(enabled: bool) -> None:
    """``--debug``: let unexpected errors through with their full traceback."""
    _SETTINGS["tracebacks"] = enabled


def run_command(body: Callable[[], None]) -> None:
    """Run a command body; failures become a short message and an exit code.

    Known mistakes (``UserError``) exit 2, incomplete work 1, interrupts 130/143. Anything else
    is a bug or an outage: one line, the run it ended (its traceback is in the run's
    ``error/traceback.txt``), and the full traceback only with ``--debug``.
    """
    from mlops_tracking.core.errors import IncompleteError, UserError
    from mlops_tracking.runs.interrupts import RunInterrupted

    quiet_libraries()
    out = console()
    try:
        body()
    except typer.Exit:
        raise
    except UserError as error:
        out.print(f"[red]error:[/] {error}")
        raise typer.Exit(error.exit_code) from None
    except IncompleteError as error:
        out.print(f"[red]incomplete:[/] {error}")
        _print_notes(out, error)
        raise typer.Exit(error.exit_code) from None
    except (KeyboardInterrupt, RunInterrupted) as interrupt:
        reason = interrupt if isinstance(interrupt, RunInterrupted) else "interrupted by SIGINT"
        out.print(f"[yellow]{reason}[/]")
        _print_notes(out, interrupt, "no run had started")
        raise typer.Exit(getattr(interrupt, "exit_code", 130)) from None
    except Exception as error:
        if _SETTINGS["tracebacks"]:
            raise
        from mlops_tracking.runs.store import store_problem

        problem = store_problem(error)
        first_line = f"{type(error).__name__}: {str(error).splitlines()[0][:300]}"
        out.print(f"[red]failed:[/] {problem or first_line}")
        if _disk_full(error):
            out.print(
                "  The disk under the tracking store is full. Free space, then "
                "`mlops-tracking runs --reap` ends any run it left RUNNING."
            )
        _print_notes(out, error, "no run had started")
        out.print("Run again with --debug for the full traceback.")
        raise typer.Exit(1) from None


DISK_FULL = ("database or disk is full", "no space left on device")


def _disk_full(error: BaseException) -> bool:
    """Whether ``error`` (or what caused it) is a full disk: SQLite and the OS say it in words
    that MLflow's wrapping (an SQLAlchemy autoflush message) keeps only deep in the chain."""
    seen: BaseException | None = error
    for _ in range(10):
        if seen is None:
            return False
        if any(words in str(seen).lower() for words in DISK_FULL):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _print_notes(out: Console, error: BaseException, default: str = "") -> None:
    """Print the notes tracked runs attach to an error ("MLflow run ... ended FAILED")."""
    notes = getattr(error, "__notes__", [])
    for note in notes:
        out.print(f"  {note}")
    if not notes and default:
        out.print(f"  ({_after_runs() or default})")


def _after_runs() -> str:
    """What an error outside any run came after: the runs this process had ended, if any."""
    from mlops_tracking.runs.lifecycle import ENDED_RUNS

    if not ENDED_RUNS:
        return ""
    ended = ", ".join(f"{run_id} {status}" for run_id, status in ENDED_RUNS[-3:])
    more = f" and {len(ENDED_RUNS) - 3} more" if len(ENDED_RUNS) > 3 else ""
    return f"after its runs had ended: {ended}{more}; the error is not recorded on them"
