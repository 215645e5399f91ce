"""Bring back the data versions a run recorded, from DVC's cache, without touching the workspace.

A run bound to DVC records the hash of every data file in its lineage (``dvc.data.<path>``). A
file whose workspace copy still has that hash is used as it is; one that changed is copied out
of the cache (DVC 3 keeps a file under the plain md5 of its bytes) into a scratch folder. Only
the files training reads must come back; a changed file upstream of them is reported, since
training never reads it.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from mlops_tracking.core.dvc_workspace import cache_file, file_md5


@dataclass(frozen=True)
class Restored:
    """Where the recorded versions of the files training reads are, and what it took."""

    folder: Path  # the workspace folder when nothing changed, else the scratch copy
    notes: tuple[str, ...]
    lost: tuple[str, ...]  # read by training, changed, and not in the cache: "path (why)"


def restore_versions(
    root: Path, hashes: Mapping[str, str], read_folder: Path, scratch: Path
) -> Restored:
    """The files of ``read_folder`` (relative to ``root``) as ``hashes`` recorded them."""
    copied = scratch / read_folder.name
    copied.mkdir(parents=True, exist_ok=True)
    notes: list[str] = []
    lost: list[str] = []
    restored = False
    for path, md5 in sorted(hashes.items()):
        read_by_training = Path(path).parent == read_folder
        source = root / path
        current = file_md5(source)
        if current != md5:
            cached = cache_file(root, md5)
            now = "missing" if current is None else f"now {current}"
            if not cached.is_file():
                if read_by_training:
                    lost.append(f"{path} (the run used md5 {md5}, {now})")
                else:
                    notes.append(f"data: {path} (not read by training) differs: md5 {md5}, {now}")
                continue
            source, restored = cached, True
            notes.append(
                f"data: {path} differs in the workspace; restored md5 {md5} from the DVC cache"
            )
        if read_by_training:
            shutil.copyfile(source, copied / Path(path).name)
    if not restored:
        notes.append("data: every file training reads matches the hashes the run recorded")
        return Restored(root / read_folder, tuple(notes), tuple(lost))
    return Restored(copied, tuple(notes), tuple(lost))
