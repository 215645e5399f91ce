"""Capture where a run happened: machine, accelerators, cloud, CI, git state and packages.

Pure standard library plus subprocess calls to ``git`` and ``nvidia-smi`` when present; no
network access (cloud detection reads environment variables, never metadata endpoints).
"""

from __future__ import annotations

import getpass
import importlib.metadata
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import psutil

# Environment variables that identify a cloud runtime without a network call.
CLOUD_MARKERS: dict[str, tuple[str, ...]] = {
    "aws": (
        "AWS_EXECUTION_ENV",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "ECS_CONTAINER_METADATA_URI",
        "SM_CURRENT_HOST",
    ),
    "gcp": ("GOOGLE_CLOUD_PROJECT", "GCP_PROJECT", "K_SERVICE", "CLOUD_ML_JOB_ID"),
    "azure": ("AZUREML_RUN_ID", "WEBSITE_SITE_NAME", "AZURE_FUNCTIONS_ENVIRONMENT"),
    "databricks": ("DATABRICKS_RUNTIME_VERSION",),
}
CI_MARKERS = ("CI", "GITHUB_ACTIONS", "GITLAB_CI", "BUILDKITE", "JENKINS_URL", "TF_BUILD")
KEY_PACKAGES = ("mlflow", "scikit-learn", "numpy", "pandas", "skops", "skl2onnx", "onnxruntime")
COMMAND_TIMEOUT = 10


def _run(command: list[str], cwd: Path | None = None) -> str | None:
    """Run a command and return its stdout, or None if it is missing or fails."""
    if shutil.which(command[0]) is None:
        return None
    try:
        completed = subprocess.run(
            command, cwd=cwd, capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return completed.stdout if completed.returncode == 0 else None


@cache
def gpu_description() -> tuple[str, str]:
    """Return (GPU names, CUDA driver version), or ("none", "none") without a usable GPU."""
    output = _run(["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"])
    if not output or not output.strip():
        return "none", "none"
    rows = [line.split(",") for line in output.strip().splitlines()]
    names = "; ".join(row[0].strip() for row in rows)
    cuda = _run(["nvidia-smi"]) or ""
    version = cuda.split("CUDA Version:")[1].split()[0] if "CUDA Version:" in cuda else "unknown"
    return names, version


def author(configured: str | None = None) -> str:
    """The configured author, else git's ``user.name``, else the OS user."""
    if configured:
        return configured
    name = (_run(["git", "config", "user.name"]) or "").strip()
    return name or getpass.getuser()


def cloud_provider(environ: dict[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    for provider, markers in CLOUD_MARKERS.items():
        if any(env.get(marker) for marker in markers):
            return provider
    return "none"


def ci_name(environ: dict[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    for marker in CI_MARKERS[1:]:
        if env.get(marker):
            return marker.lower()
    return "true" if env.get("CI", "").lower() in {"1", "true", "yes"} else "false"


@cache
def package_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def environment_tags() -> dict[str, str]:
    """Tags that describe the machine and software a run used (all values strings)."""
    gpu, cuda = gpu_description()
    memory_gb = psutil.virtual_memory().total / 2**30
    tags = {
        "env.python": platform.python_version(),
        "env.python_implementation": platform.python_implementation(),
        "env.os": f"{platform.system()} {platform.release()}",
        "env.platform": platform.platform(),
        "env.machine": platform.machine(),
        "env.hostname": platform.node(),
        "env.cpu_count": str(os.cpu_count() or 0),
        "env.memory_gb": f"{memory_gb:.1f}",
        "env.gpu": gpu,
        "env.cuda": cuda,
        "env.cloud_provider": cloud_provider(),
        "env.ci": ci_name(),
    }
    for package in KEY_PACKAGES:
        tags[f"env.{package}"] = package_version(package)
    return tags


@cache
def installed_packages() -> tuple[str, ...]:
    """Every installed distribution as ``name==version``, sorted: the run's pip freeze.

    Cached: what is installed does not change while a process runs, and reading the metadata of
    a hundred distributions takes a noticeable fraction of a second.
    """
    seen: dict[str, str] = {}
    for distribution in importlib.metadata.distributions():
        name = distribution.metadata["Name"]
        if name and name.lower() not in seen:
            seen[name.lower()] = f"{name}=={distribution.version}"
    return tuple(seen[key] for key in sorted(seen))


def python_details() -> dict[str, str]:
    return {
        "version": sys.version,
        "implementation": platform.python_implementation(),
        "executable": sys.executable,
        "prefix": sys.prefix,
        "platform": platform.platform(),
    }


@dataclass(frozen=True)
class GitState:
    """The code version of a run: commit, branch, remote and uncommitted changes."""

    root: Path
    commit: str
    branch: str
    remote_url: str
    dirty: bool
    diff: str
    untracked: tuple[str, ...]


def git_state(path: Path) -> GitState | None:
    """Describe the git work tree containing ``path``; None outside a repository."""
    root = _run(["git", "rev-parse", "--show-toplevel"], cwd=path)
    if root is None:
        return None
    top = Path(root.strip())
    commit = (_run(["git", "rev-parse", "HEAD"], cwd=top) or "").strip()
    if not commit:
        return None  # a repository without commits has no version to record
    branch = (_run(["git", "rev-parse", "--abbrev-ref", "HEAD"], cwd=top) or "").strip()
    remote = (_run(["git", "config", "--get", "remote.origin.url"], cwd=top) or "").strip()
    status = _run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=top) or ""
    untracked = tuple(line[3:] for line in status.splitlines() if line.startswith("??"))
    diff = _run(["git", "diff", "HEAD", "--no-color"], cwd=top) or ""
    return GitState(top, commit, branch, remote, bool(status.strip()), diff, untracked)


def code_version() -> GitState | None:
    """The git state of the code that runs: the working directory's repository, else ours.

    Read once per workflow call, not cached for the process: a notebook may commit or edit
    between runs.
    """
    return git_state(Path.cwd()) or git_state(package_source_dir())


def package_source_dir() -> Path:
    """The directory holding this package's source (``src/mlops_tracking``)."""
    return Path(__file__).resolve().parents[1]  # core/ sits one level below the package


def project_root(start: Path | None = None) -> Path | None:
    """The nearest directory at or above ``start`` (default: cwd) with a ``pyproject.toml``."""
    return nearest_holding("pyproject.toml", start, Path.is_file)


def nearest_holding(
    name: str, start: Path | None = None, kind: Callable[[Path], bool] = Path.exists
) -> Path | None:
    """The nearest directory at or above ``start`` (default: cwd) holding ``name``."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if kind(candidate / name):
            return candidate
    return None


def lock_file() -> Path | None:
    """The project's dependency lock file, searched from cwd and then from the package."""
    for start in (Path.cwd(), package_source_dir()):
        root = project_root(start)
        if root is not None and (root / "requirements.lock").is_file():
            return root / "requirements.lock"
    return None


def entry_point() -> tuple[str, Path | None]:
    """The command line that started this process and the script file, if it is one."""
    command = " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv else ""
    script = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if script is not None and not script.is_file():
        script = None
    return command, script


def notebook_path() -> Path | None:
    """The notebook file this process runs in (Jupyter or VS Code), when it can be found."""
    try:
        from IPython import get_ipython  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    shell = get_ipython()
    if shell is None or type(shell).__name__ != "ZMQInteractiveShell":
        return None
    candidates = [
        shell.user_ns.get("__vsc_ipynb_file__"),
        os.environ.get("__vsc_ipynb_file__"),  # noqa: SIM112 - VS Code spells it so
        session_notebook(os.environ.get("JPY_SESSION_NAME")),  # set by Jupyter Server 2
        os.environ.get("IPYNB_FILE"),
    ]
    return first_notebook(candidates)


def session_notebook(name: str | None, kernel_dir: Path | None = None) -> str | None:
    """Jupyter Server's ``JPY_SESSION_NAME`` as a path this kernel can open.

    The server sets the notebook's absolute path when the front end names the file (JupyterLab
    and Notebook 7 do), and otherwise its own path for it, relative to the server's root rather
    than to the kernel's folder (``kernel_dir``, default: cwd), which is the notebook's folder:
    look there by file name.
    """
    if not name or Path(name).is_absolute() or Path(name).is_file():
        return name
    return str((kernel_dir or Path.cwd()) / Path(name).name)


def first_notebook(candidates: list[str | None]) -> Path | None:
    for candidate in candidates:
        if candidate and candidate.endswith(".ipynb") and Path(candidate).is_file():
            return Path(candidate)
    return None
