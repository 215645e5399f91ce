"""Code tests of environment capture: cloud, CI, packages, git state, notebook and author."""

from __future__ import annotations

import importlib.metadata
import subprocess
from pathlib import Path

import pytest

from mlops_tracking.core import environment
from mlops_tracking.core.environment import (
    KEY_PACKAGES,
    author,
    ci_name,
    cloud_provider,
    environment_tags,
    first_notebook,
    git_state,
    installed_packages,
)


@pytest.mark.parametrize(
    ("environ", "provider"),
    [
        ({}, "none"),
        ({"AWS_REGION": "eu-west-1"}, "aws"),
        ({"SM_CURRENT_HOST": "algo-1"}, "aws"),
        ({"K_SERVICE": "trainer"}, "gcp"),
        ({"AZUREML_RUN_ID": "abc"}, "azure"),
        ({"DATABRICKS_RUNTIME_VERSION": "15.4"}, "databricks"),
        ({"AWS_REGION": ""}, "none"),  # an empty marker is no marker
        ({"HOME": "/root", "PATH": "/usr/bin"}, "none"),
    ],
)
def test_cloud_provider_from_environment_variables(environ: dict[str, str], provider: str) -> None:
    assert cloud_provider(environ) == provider


@pytest.mark.parametrize(
    ("environ", "name"),
    [
        ({}, "false"),
        ({"CI": "true"}, "true"),
        ({"CI": "1"}, "true"),
        ({"CI": "false"}, "false"),
        ({"CI": "true", "GITHUB_ACTIONS": "true"}, "github_actions"),
        ({"GITLAB_CI": "true"}, "gitlab_ci"),
        ({"BUILDKITE": "true"}, "buildkite"),
    ],
)
def test_ci_name_from_environment_variables(environ: dict[str, str], name: str) -> None:
    assert ci_name(environ) == name


def test_cloud_and_ci_default_to_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "demo")
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    for marker in environment.CLOUD_MARKERS["aws"]:
        monkeypatch.delenv(marker, raising=False)

    assert cloud_provider() == "gcp"
    assert ci_name() == "github_actions"


def test_environment_tags_are_strings_for_every_env_key() -> None:
    tags = environment_tags()

    expected = {
        "env.python",
        "env.python_implementation",
        "env.os",
        "env.platform",
        "env.machine",
        "env.hostname",
        "env.cpu_count",
        "env.memory_gb",
        "env.gpu",
        "env.cuda",
        "env.cloud_provider",
        "env.ci",
    } | {f"env.{package}" for package in KEY_PACKAGES}
    assert set(tags) == expected
    assert all(isinstance(value, str) and value for value in tags.values())
    assert tags["env.mlflow"] == importlib.metadata.version("mlflow")
    assert int(tags["env.cpu_count"]) >= 1
    assert float(tags["env.memory_gb"]) > 0


def test_package_version_of_a_missing_package() -> None:
    assert environment.package_version("surely-not-installed-package") == "not installed"


def test_installed_packages_is_a_sorted_freeze() -> None:
    packages = installed_packages()

    assert f"mlflow=={importlib.metadata.version('mlflow')}" in packages
    assert f"scikit-learn=={importlib.metadata.version('scikit-learn')}" in packages
    names = [line.split("==")[0].lower() for line in packages]
    assert names == sorted(names)
    assert len(names) == len(set(names))


# --- git ---------------------------------------------------------------------------------------


@pytest.fixture
def git_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Isolate git from the user's config and from any repository above tmp_path."""
    config = tmp_path / "gitconfig"
    config.write_text("[user]\n\tname = Test Author\n\temail = test@example.com\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    return tmp_path


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=repo, capture_output=True, text=True, check=True, timeout=30
    )
    return done.stdout


@pytest.fixture
def repo(git_env: Path) -> Path:
    path = git_env / "project"
    path.mkdir()
    _git(path, "init", "-q", "-b", "main")
    (path / "train.py").write_text("print('v1')\n")
    _git(path, "add", "train.py")
    _git(path, "commit", "-q", "-m", "first")
    return path


def test_git_state_of_a_clean_repository(repo: Path) -> None:
    state = git_state(repo)

    assert state is not None
    assert state.root == repo.resolve()
    assert state.commit == _git(repo, "rev-parse", "HEAD").strip()
    assert len(state.commit) == 40
    assert state.branch == "main"
    assert state.remote_url == ""
    assert state.dirty is False
    assert state.diff == ""
    assert state.untracked == ()


def test_git_state_from_a_subdirectory_finds_the_root(repo: Path) -> None:
    sub = repo / "src"
    sub.mkdir()

    state = git_state(sub)

    assert state is not None
    assert state.root == repo.resolve()


def test_git_state_records_uncommitted_changes(repo: Path) -> None:
    (repo / "train.py").write_text("print('v2')\n")

    state = git_state(repo)

    assert state is not None
    assert state.dirty is True
    assert "train.py" in state.diff
    assert "+print('v2')" in state.diff
    assert "-print('v1')" in state.diff


def test_git_state_lists_untracked_files(repo: Path) -> None:
    (repo / "notes").mkdir()
    (repo / "notes" / "idea.txt").write_text("try mlp\n")

    state = git_state(repo)

    assert state is not None
    assert state.untracked == ("notes/idea.txt",)
    assert state.dirty is True
    assert state.diff == ""


def test_git_state_records_the_remote(repo: Path) -> None:
    _git(repo, "remote", "add", "origin", "https://example.com/team/project.git")

    state = git_state(repo)

    assert state is not None
    assert state.remote_url == "https://example.com/team/project.git"


def test_git_state_outside_a_repository_is_none(git_env: Path) -> None:
    plain = git_env / "plain"
    plain.mkdir()

    assert git_state(plain) is None


def test_git_state_of_a_repository_without_commits_is_none(git_env: Path) -> None:
    empty = git_env / "empty"
    empty.mkdir()
    _git(empty, "init", "-q")

    assert git_state(empty) is None


# --- notebook and author -------------------------------------------------------------------------


def test_first_notebook_picks_the_first_existing_notebook(tmp_path: Path) -> None:
    (tmp_path / "script.txt").write_text("")
    (tmp_path / "analysis.ipynb").write_text("{}")
    (tmp_path / "later.ipynb").write_text("{}")
    candidates = [
        None,
        "",
        str(tmp_path / "missing.ipynb"),
        str(tmp_path / "script.txt"),
        str(tmp_path / "analysis.ipynb"),
        str(tmp_path / "later.ipynb"),
    ]

    assert first_notebook(candidates) == tmp_path / "analysis.ipynb"


def test_first_notebook_without_candidates_is_none(tmp_path: Path) -> None:
    assert first_notebook([None, str(tmp_path / "missing.ipynb")]) is None


def test_notebook_path_outside_jupyter_is_none() -> None:
    assert environment.notebook_path() is None


class ZMQInteractiveShell:
    """Stands in for ipykernel's shell: notebook_path() recognises a kernel by the class name."""

    def __init__(self, user_ns: dict[str, object] | None = None) -> None:
        self.user_ns = user_ns or {}


def _in_a_kernel(monkeypatch: pytest.MonkeyPatch, shell: ZMQInteractiveShell) -> None:
    import IPython

    monkeypatch.setattr(IPython, "get_ipython", lambda: shell)
    for name in ("__vsc_ipynb_file__", "JPY_SESSION_NAME", "IPYNB_FILE"):
        monkeypatch.delenv(name, raising=False)


def test_notebook_path_in_a_jupyter_kernel_is_jpy_session_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    notebook = tmp_path / "tour.ipynb"
    notebook.write_text("{}")
    _in_a_kernel(monkeypatch, ZMQInteractiveShell())
    monkeypatch.setenv("JPY_SESSION_NAME", str(notebook))

    assert environment.notebook_path() == notebook


def test_notebook_path_prefers_the_file_vs_code_announces(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "tour.ipynb").write_text("{}")
    (tmp_path / "vscode.ipynb").write_text("{}")
    _in_a_kernel(
        monkeypatch, ZMQInteractiveShell({"__vsc_ipynb_file__": str(tmp_path / "vscode.ipynb")})
    )
    monkeypatch.setenv("JPY_SESSION_NAME", str(tmp_path / "tour.ipynb"))

    assert environment.notebook_path() == tmp_path / "vscode.ipynb"


def test_notebook_path_in_a_kernel_without_any_announcement_is_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _in_a_kernel(monkeypatch, ZMQInteractiveShell())

    assert environment.notebook_path() is None


def test_session_notebook_relative_to_the_server_root_is_found_in_the_kernel_folder(
    tmp_path: Path,
) -> None:
    folder = (
        tmp_path / "repo" / "notebooks"
    )  # served from repo/; the cwd, tmp_path, has no notebooks/
    folder.mkdir(parents=True)
    (folder / "tour.ipynb").write_text("{}")

    found = environment.session_notebook("notebooks/tour.ipynb", kernel_dir=folder)

    assert found == str(folder / "tour.ipynb")
    assert environment.session_notebook(str(folder / "tour.ipynb")) == str(folder / "tour.ipynb")
    assert environment.session_notebook(None) is None


def test_author_prefers_the_configured_name(git_env: Path) -> None:
    assert author("Ada Lovelace") == "Ada Lovelace"


def test_author_falls_back_to_git_user_name(git_env: Path) -> None:
    assert author(None) == "Test Author"
    assert author("") == "Test Author"


def test_author_falls_back_to_the_os_user(
    git_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty-gitconfig"
    empty.write_text("")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(empty))
    monkeypatch.setenv("LOGNAME", "os-user")

    assert author(None) == "os-user"
