"""Debian's Chromium for the browser tests: required under CI, skipped without it elsewhere,
and launched by Playwright (never downloaded)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from mlflow_ui import CHROMIUM, CHROMIUM_ARGS

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
