"""Debian's Chromium for the browser tests: required under CI, skipped without it elsewhere,
and launched by Playwright (never downloaded)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from mlflow_ui import CHROMIUM, CHROMIUM_ARGS

from conftest import cli

PAGE_TIMEOUT_MS = 90_000  # a busy 2-core machine takes seconds to render a first page


def require_chromium() -> None:
    """Skip without Debian's Chromium on a developer's machine; under CI it is a failure."""
    if CHROMIUM.exists():
        return
    reason = f"Debian's Chromium is not installed ({CHROMIUM}; apt-get install -y chromium)"
    if os.environ.get("CI"):
        pytest.fail(f"{reason}: .ci/run installs it, so CI never skips the browser test")
    pytest.skip(reason)


@contextmanager
def chromium() -> Iterator[Any]:
    """A launched Chromium; each test opens its own fresh context (a first visit)."""
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=PAGE_TIMEOUT_MS)  # expect's own 5 s is a first render's time
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def fresh_page() -> Iterator[Any]:
    """A page in a fresh browser context: no stored choice of workflow, as on a first visit."""
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1500, "height": 1000})
        tab = context.new_page()
        tab.set_default_timeout(PAGE_TIMEOUT_MS)
        yield tab


def run_cli(env: dict[str, str], cwd: Path, *args: str) -> str:
    """``mlops-tracking ARGS`` in a subprocess that must succeed; its output."""
    result = cli(*args, env=env, cwd=cwd, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    return str(result.stdout)


def printed_after(output: str, label: str, pattern: str = r"http://\S+") -> str:
    """What a command printed after ``label`` (an address: the terminal never folds it)."""
    found = re.search(rf"{re.escape(label)}\s+({pattern})", output)
    assert found, f"nothing after {label!r} in:\n{output}"
    return found.group(1)
