"""A dataset source for data versioned by DVC: a path in a repository, at a git revision.

MLflow ships sources for local files, HTTP, Delta, Spark and Hugging Face, but none that says
"this file, as DVC versioned it": the path alone does not identify a version, the path with the
git revision and the DVC hash does. ``dvc get REPO PATH --rev REV`` fetches exactly that file.
Imported only when a run logs pipeline data (it imports MLflow).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlflow.data.dataset_source import DatasetSource


class DvcDatasetSource(DatasetSource):
    """``path`` in the DVC repository ``repo`` at git revision ``rev``, with DVC hash ``md5``."""

    def __init__(self, path: str, rev: str, md5: str, repo: str) -> None:
        self.path = path
        self.rev = rev
        self.md5 = md5
        self.repo = repo

    @staticmethod
    def _get_source_type() -> str:
        return "dvc"

    def load(self, **kwargs: Any) -> str:
        """The file's local path when ``repo`` is a local checkout (``dvc get`` fetches others)."""
        return str(Path(self.repo) / self.path)

    @staticmethod
    def _can_resolve(raw_source: Any) -> bool:
        return False  # only ever built explicitly, never guessed from a string

    @classmethod
    def _resolve(cls, raw_source: Any) -> DvcDatasetSource:
        raise NotImplementedError("a DVC source is built from its path, revision and hash")

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "rev": self.rev, "md5": self.md5, "repo": self.repo}

    @classmethod
    def from_dict(cls, source_dict: dict[Any, Any]) -> DvcDatasetSource:
        return cls(
            path=str(source_dict["path"]),
            rev=str(source_dict.get("rev", "")),
            md5=str(source_dict.get("md5", "")),
            repo=str(source_dict.get("repo", "")),
        )
