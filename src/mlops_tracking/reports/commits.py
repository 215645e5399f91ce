"""The diff between two runs' commits, from a local git repository when it holds both."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from mlops_tracking.core.run_report import CommitDiff

GIT_TIMEOUT = 30
DIFF_BYTES = 2_000_000  # read at most this much of ``git diff``; the pages show less


def _git(repository: Path, *args: str) -> subprocess.CompletedProcess[bytes] | None:
    if shutil.which("git") is None:
        return None
    try:
        return subprocess.run(
            ["git", "-C", str(repository), *args],
            capture_output=True,
            timeout=GIT_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None


def _has_commit(repository: Path, commit: str) -> bool:
    found = _git(repository, "cat-file", "-e", f"{commit}^{{commit}}")
    return found is not None and found.returncode == 0


def commit_diff(repository: Path, base: str | None, head: str | None) -> CommitDiff:
    """``git diff BASE HEAD --`` in ``repository``, or a note on why it is not available."""
    if base is None or head is None:
        return CommitDiff(base, head, None, "No diff: a run has no recorded git commit.")
    if base == head:
        return CommitDiff(base, head, None, f"Same commit ({base[:12]}): no change in between.")
    inside = _git(repository, "rev-parse", "--git-dir")
    if inside is None or inside.returncode != 0:
        return CommitDiff(base, head, None, f"No diff: {repository} is not a git repository.")
    missing = [commit[:12] for commit in (base, head) if not _has_commit(repository, commit)]
    if missing:
        return CommitDiff(
            base,
            head,
            None,
            f"No diff: commit {', '.join(missing)} is not in the repository at {repository} "
            "(fetch it, or pass --repo).",
        )
    diff = _git(repository, "diff", "--no-color", "--no-ext-diff", base, head, "--")
    if diff is None or diff.returncode != 0:
        return CommitDiff(base, head, None, "No diff: git diff failed.")
    text = diff.stdout[:DIFF_BYTES].decode("utf-8", errors="replace")
    note = f"git diff {base[:12]} {head[:12]} (in {repository})"
    return CommitDiff(base, head, text or "(no change in the files)\n", note)
