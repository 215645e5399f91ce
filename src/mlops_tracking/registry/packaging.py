"""Package a registered version for another platform: a Docker build context, checked files.

``mlops-tracking package NAME@ALIAS --out DIR`` writes:

* ``Dockerfile`` and ``model_dir/``: MLflow's own generator (what ``mlflow models
  generate-dockerfile`` writes; no Docker engine or network is needed to write it), run on the
  integrity-checked local copy of the version (``runs/integrity.py``), so the image holds
  exactly the files that matched the manifest recorded at registration. The image serves
  MLflow's plain scoring server on port 8080 (``mlflow.models.container``), not this project's
  guard (``registry/scoring_app.py``): its body cap, its content-type and input checks and
  its request log are not in it; put limits at the platform's gateway;
* ``requirements.txt``: the model's own requirements, every one pinned with ``==`` (a loose one
  is refused, naming it: an image built twice must hold the same packages);
* ``MANIFEST.sha256``: every model file's SHA-256 in ``sha256sum -c`` format; the files are
  checked against the registered manifest once more after MLflow copied them;
* ``README.md``: which version, from which run, how to build, run and call the image.

It is written to a temporary folder beside ``DIR`` and renamed into place, so a failure leaves
nothing half-written; a non-empty ``DIR`` is refused unless ``force``. The version's tags
record it (``package.sha256``, the manifest's digest, and ``package.written_at``) and the
model's trail gets a ``package`` entry.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from mlops_tracking.core.errors import UserError
from mlops_tracking.core.promotion import TrailEntry
from mlops_tracking.registry.catalog import (
    VersionRef,
    append_trail,
    model_version,
    resolve,
    set_version_tags,
)

MODEL_DIR = "model_dir"  # where MLflow's generator puts the model in the build context
MANIFEST_FILE = "MANIFEST.sha256"
IMAGE_PORT = 8080


class PackagingError(UserError):
    """The version cannot be packaged (loose requirements, an output folder in the way)."""


@dataclass(frozen=True)
class Package:
    ref: VersionRef
    folder: Path
    files: dict[str, int]  # relative path -> bytes
    manifest_digest: str
    requirements: list[str]

    @property
    def image(self) -> str:
        return f"{self.ref.name.lower()}:v{self.ref.version}"


def default_folder(ref: VersionRef) -> Path:
    return Path("build") / "packages" / f"{ref.name}-v{ref.version}"


def package_version(reference: str, out: Path | None, by: str, *, force: bool = False) -> Package:
    """Write the build context for ``reference`` into ``out`` (see the module docstring)."""
    from mlops_tracking.core.manifest import build_manifest, manifest_digest
    from mlops_tracking.runs.integrity import check_files, recorded_manifest, verified_copy

    ref = resolve(reference)
    folder = out or default_folder(ref)
    if folder.exists() and any(folder.iterdir()) and not force:
        raise PackagingError(f"{folder} is not empty; pass --force to replace it or choose --out")
    version = model_version(ref)
    copy = verified_copy(ref.name, ref.version)  # refuses a changed file, naming it
    folder.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        requirements = _pinned_requirements(copy.path / "requirements.txt", str(ref))
        _generate_dockerfile(copy.path, partial)
        # MLflow copies the model into model_dir/<the copy's folder name>/
        (model,) = (partial / MODEL_DIR).iterdir()
        manifest = recorded_manifest(version) or {}
        check_files(model, manifest, f"the packaged files of {ref}")
        packaged = build_manifest(model)
        where = model.relative_to(partial).as_posix()
        (partial / MANIFEST_FILE).write_text(
            "".join(f"{digest}  {where}/{path}\n" for path, digest in packaged.items()),
            encoding="utf-8",
        )
        (partial / "requirements.txt").write_text("\n".join(requirements) + "\n", "utf-8")
        (partial / "README.md").write_text(_readme(ref, version.run_id or "", copy.path), "utf-8")
        if folder.exists():
            shutil.rmtree(folder)
        partial.rename(folder)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    finally:
        copy.remove()
    digest = manifest_digest(packaged)
    now = datetime.now(UTC)
    set_version_tags(
        ref, {"package.sha256": digest, "package.written_at": now.isoformat(timespec="seconds")}
    )
    append_trail(
        ref.name,
        TrailEntry(
            at=now.isoformat(timespec="milliseconds"),
            action="package",
            alias=ref.alias or "",
            version=ref.version,
            previous=None,
            decision="packaged",
            by=by,
            reason=f"build context {folder} (manifest {digest[:12]})",
        ),
    )
    files = {
        path.relative_to(folder).as_posix(): path.stat().st_size
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }
    return Package(ref, folder, files, digest, requirements)


def _pinned_requirements(path: Path, what: str) -> list[str]:
    lines = [
        line.strip()
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    loose = [line for line in lines if "==" not in line]
    if loose:
        raise PackagingError(
            f"{what}'s requirements.txt has requirements without an exact version "
            f"({', '.join(loose)}): an image built from it could differ every time; log the "
            "model with pinned pip_requirements and register it again"
        )
    return lines


def _generate_dockerfile(model: Path, into: Path) -> None:
    """MLflow's generator (``mlflow models generate-dockerfile``), run in this process."""
    import logging

    from mlflow.models.flavor_backend_registry import get_flavor_backend

    quiet = logging.getLogger("mlflow")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # its "Created all folders" and download progress lines
    try:
        backend = get_flavor_backend(  # type: ignore[no-untyped-call]
            str(model), docker_build=True, env_manager="local"
        )
        # local: the image's own Python (the model's python_env.yaml chose its base image)
        # installs the pinned requirements at build time; no virtualenv inside the container
        backend.generate_dockerfile(str(model), str(into), install_mlflow=False)
    finally:
        quiet.setLevel(level)


def _readme(ref: VersionRef, run_id: str, model: Path) -> str:
    import json

    from mlflow.models import Model

    signature = Model.load(str(model / "MLmodel")).signature
    columns = signature.inputs.input_names() if signature is not None else []
    example = json.dumps({"dataframe_records": [dict.fromkeys(columns[:3], 0.0)]})
    image = f"{ref.name.lower()}:v{ref.version}"
    alias = f" (alias `{ref.alias}`)" if ref.alias else ""
    return f"""# {ref.name} version {ref.version}

Registered model `{ref.name}`, version {ref.version}{alias},
logged by run `{run_id}` (`models:/{ref.name}/{ref.version}`). Written by
`mlops-tracking package`.

Input columns ({len(columns)}): {", ".join(f"`{c}`" for c in columns)}

## Check the files

```bash
sha256sum -c {MANIFEST_FILE}
```

Every file of `{MODEL_DIR}/` matched the manifest recorded when the version was registered.

## Build and run the image

```bash
docker build -t {image} .
docker run --rm -p {IMAGE_PORT}:{IMAGE_PORT} {image}
curl -s http://127.0.0.1:{IMAGE_PORT}/invocations -H 'Content-Type: application/json' \\
  -d '{example}'
```

(send every input column; the example shows the request's shape.)

The image runs MLflow's scoring server (`mlflow.models.container`), not the project's guarded
one: limit request sizes and check inputs at the platform's gateway. `requirements.txt` lists
the exact packages the model was logged with.
"""
