"""Stage a run's files in a temporary directory and upload them in one ``log_artifacts`` call.

One upload instead of dozens of ``log_artifact`` calls matters on a remote tracking server,
where each call is an HTTP round trip. With proxied artifacts (``--serve-artifacts``) MLflow
still PUTs each file on its own, so the file count matters too: a folder of many small files
that is read back as a whole (the package source) is staged as one zip archive, and a table is
written here with the tag MLflow's ``log_table`` would set (``table_tags``), which spares that
call's listing, run read and tag write.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import zipfile
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

# mlflow.utils.mlflow_tags.MLFLOW_LOGGED_ARTIFACTS: the run's tables, for the Evaluation tab
LOGGED_ARTIFACTS_TAG = "mlflow.loggedArtifacts"


class ArtifactStage:
    """A scratch directory whose tree becomes the run's artifact tree on ``upload``."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="mlops-artifacts-"))
        self.tables: list[str] = []

    def __enter__(self) -> ArtifactStage:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def path(self, relative: str) -> Path:
        target = self.root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def text(self, relative: str, content: str) -> None:
        self.path(relative).write_text(content, encoding="utf-8")

    def json(self, relative: str, data: Any) -> None:
        self.text(relative, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")

    def yaml(self, relative: str, data: Any) -> None:
        self.text(relative, yaml.safe_dump(data, sort_keys=False))

    def csv(self, relative: str, frame: pd.DataFrame, index: bool = False) -> None:
        frame.to_csv(self.path(relative), index=index)

    def figure(self, relative: str, figure: Figure) -> None:
        figure.savefig(self.path(relative))

    def table(self, relative: str, frame: pd.DataFrame) -> None:
        """A table the UI's Evaluation tab shows, written as ``mlflow.log_table`` writes it."""
        frame.to_json(self.path(relative), orient="split", index=False, date_format="iso")
        self.tables.append(relative)

    def table_tags(self) -> dict[str, str]:
        """The ``mlflow.loggedArtifacts`` tag that lists the staged tables (none: no tag)."""
        if not self.tables:
            return {}
        listed = [{"path": path, "type": "table"} for path in self.tables]
        return {LOGGED_ARTIFACTS_TAG: json.dumps(listed)}

    def archive(self, relative: str, folder: Path) -> None:
        """Zip ``folder`` (without caches) as one file, its entries under the folder's name."""
        files = sorted(
            path
            for path in folder.rglob("*")
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
        )
        with zipfile.ZipFile(self.path(relative), "w", zipfile.ZIP_DEFLATED) as archive:
            for path in files:
                archive.write(path, Path(folder.name, path.relative_to(folder)).as_posix())

    def copy(self, relative: str, source: Path) -> None:
        if source.is_dir():
            shutil.copytree(
                source,
                self.path(relative),
                dirs_exist_ok=True,
                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
            )
        else:
            shutil.copy2(source, self.path(relative))

    def files(self) -> list[str]:
        return sorted(str(p.relative_to(self.root)) for p in self.root.rglob("*") if p.is_file())

    def upload(self, run_id: str) -> None:
        from mlflow import MlflowClient

        MlflowClient().log_artifacts(run_id, str(self.root))


def log_run_text(run_id: str, text: str, path: str) -> None:
    """Add one text artifact to a run, finished or not (a model card, a reproduction verdict)."""
    from mlflow import MlflowClient

    MlflowClient().log_text(run_id, text, path)
