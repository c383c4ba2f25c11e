"""What the Chromium tests share: Debian's chromium for playwright, the skip without it, and a screenshot
(with any extra detail printed) when a scenario fails."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path(os.environ.get("ARGUS_CHROMIUM", "/usr/bin/chromium"))
SCREENSHOTS = ROOT / "out" / "test-screenshots"
CHROMIUM_MARKS = [pytest.mark.slow,
                  pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no chromium at {CHROMIUM} (apt install chromium)")]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    """Debian's chromium (playwright cannot download its own browsers here)."""
    return {**browser_type_launch_args, "executable_path": str(CHROMIUM), "args": ["--no-sandbox"]}


@contextmanager
def screenshot_on_failure(page: Any, name: str, detail: Callable[[], str] | None = None) -> Iterator[None]:
    """Run the block; if it fails, save a full-page screenshot as SCREENSHOTS/<name>-<time>.png, print its
    path (and `detail()`), and re-raise."""
    try:
        yield
    except BaseException:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shot = SCREENSHOTS / f"{name}-{int(time.time())}.png"
        page.screenshot(path=str(shot), full_page=True)
        print(f"screenshot: {shot}" + (f"\n{detail()}" if detail is not None else ""))
        raise
