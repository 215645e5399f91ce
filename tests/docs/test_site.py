"""The tutorial site: it builds strictly, every picture exists, every snippet is run by a test.

A docs page may show only what the suite proves: an image it links must be a committed file
(made by ``make screenshots``), and code it includes from ``examples/`` must be a snippet that a
test in ``tests/examples/`` executes and reads back. The reference pages are generated, so they
must cover every config key and every command the code has.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from conftest import REPO

DOCS = REPO / "docs"
EXAMPLES = REPO / "examples"
IMAGE_LIMIT_BYTES = 300 * 1024
OUTLINE_PAGES = [
    "metrics",
    "parameters",
    "artifacts",
    "models",
    "tags",
    "source-code",
    "inputs-and-outputs",
    "custom-logging",
    "model-registry",
    "run-details",
]
IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)")
SNIPPET = re.compile(r'^\s*--8<--\s+"([^"]+)"', re.MULTILINE)
EXAMPLE_RUN = re.compile(r'run_example\(\s*"([^"]+)"')


def pages() -> list[Path]:
    return sorted(path for path in DOCS.rglob("*.md") if "hooks" not in path.parts)


def images_of(page: Path) -> list[Path]:
    return [(page.parent / link).resolve() for link in IMAGE.findall(page.read_text())]


def snippets_of(page: Path) -> list[Path]:
    return [(REPO / link).resolve() for link in SNIPPET.findall(page.read_text())]


def executed_examples() -> set[str]:
    """The snippet names that some test in tests/examples/ runs with ``run_example``."""
    names: set[str] = set()
    for test in (REPO / "tests" / "examples").glob("test_*.py"):
        names.update(EXAMPLE_RUN.findall(test.read_text()))
    return names


def reference_hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location("reference_hook", DOCS / "hooks" / "reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_site_builds_strictly(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={"NO_MKDOCS_2_WARNING": "1", "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "tracking" / "metrics" / "index.html").is_file()
    assert (
        "<!-- generated:"
        not in (tmp_path / "reference" / "configuration" / "index.html").read_text()
    )


@pytest.mark.parametrize("page", pages(), ids=lambda page: str(page.relative_to(DOCS)))
def test_every_image_a_page_shows_is_committed_and_small(page: Path) -> None:
    for image in images_of(page):
        assert image.is_file(), f"{page.relative_to(REPO)} shows {image}, which does not exist"
        size = image.stat().st_size
        assert size < IMAGE_LIMIT_BYTES, f"{image.name} is {size / 1024:.0f} KB (limit 300 KB)"


def test_every_screenshot_is_shown_by_a_page() -> None:
    shown = {image for page in pages() for image in images_of(page)}
    unused = sorted(path.name for path in (DOCS / "images").glob("*.png") if path not in shown)
    assert not unused, f"screenshots no page shows: {unused}"


@pytest.mark.parametrize("page", pages(), ids=lambda page: str(page.relative_to(DOCS)))
def test_every_snippet_a_page_includes_is_run_by_a_test(page: Path) -> None:
    executed = executed_examples()
    for snippet in snippets_of(page):
        assert snippet.parent == EXAMPLES, f"{page.name} includes {snippet}, not a snippet"
        assert snippet.stem in executed, f"no test in tests/examples runs {snippet.name}"


def test_every_snippet_is_shown_by_a_page() -> None:
    shown = {snippet for page in pages() for snippet in snippets_of(page)}
    unshown = sorted(path.name for path in EXAMPLES.glob("*.py") if path not in shown)
    assert not unshown, f"snippets no page shows: {unshown}"


@pytest.mark.parametrize("name", OUTLINE_PAGES)
def test_each_outline_section_has_a_tested_snippet_and_a_real_screenshot(name: str) -> None:
    page = DOCS / "tracking" / f"{name}.md"
    assert snippets_of(page), f"{name}.md includes no snippet from examples/"
    assert any(image.parent == DOCS / "images" for image in images_of(page)), (
        f"{name}.md shows no screenshot from docs/images/"
    )
    assert "How audit checks it" in page.read_text(), f"{name}.md does not say how audit checks it"


def test_the_configuration_reference_lists_every_key() -> None:
    from mlops_tracking.core.config import Config, flatten

    generated = reference_hook().configuration_markdown()
    keys = flatten(Config().model_dump())
    missing = [key for key in keys if f"`{key}`" not in generated]
    assert not missing, f"keys the configuration reference leaves out: {missing}"


def test_the_command_reference_lists_every_command() -> None:
    generated = reference_hook().commands_markdown()
    for command in ("train", "compare", "audit", "register", "promote", "serve", "reproduce"):
        assert f"### `{command}`" in generated
    assert "### `data versions`" in generated
    assert "mlops-tracking audit [OPTIONS] RUN_ID" in generated


def test_the_readme_is_short_and_links_pages_that_exist() -> None:
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= 160
    for link in re.findall(r"\]\((docs/[^)#\s]+)", readme):
        assert (REPO / link).is_file(), f"README links {link}, which does not exist"
