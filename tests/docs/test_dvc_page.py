"""docs/mlflow-and-dvc.md draws the pipeline as `dvc dag` draws it for this repository.

The page's picture is a text block that starts with the line ``$ dvc dag``; a stage added to,
renamed in or rewired in dvc.yaml changes what DVC prints, and this test then asks for the page
to be updated.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from conftest import REPO

PAGE = REPO / "docs" / "mlflow-and-dvc.md"
DVC = Path(sys.executable).parent / "dvc"
BLOCK = re.compile(r"^```text\n\$ dvc dag\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def _lines(text: str) -> list[str]:
    """The drawing's lines without trailing blanks (DVC pads every line to the same width)."""
    return [line.rstrip() for line in text.rstrip().splitlines()]


def test_the_dvc_page_shows_what_dvc_dag_prints_for_this_repository() -> None:
    shown = BLOCK.findall(PAGE.read_text(encoding="utf-8"))
    assert len(shown) == 1, f"{PAGE.name} needs one ```text block starting with '$ dvc dag'"

    env = {
        **os.environ,
        "DVC_NO_ANALYTICS": "1",
        "PATH": f"{DVC.parent}{os.pathsep}{os.environ['PATH']}",
    }
    printed = subprocess.run(
        [str(DVC), "dag"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout

    assert all(f"| {stage} |" in printed for stage in ("prepare", "featurize", "train", "evaluate"))
    assert _lines(shown[0]) == _lines(printed), f"`dvc dag` now prints:\n{printed}"
