"""Waiting on conditions in tests: generous timeouts, never a wall-clock bound on speed.

A test waits for what it needs to see (a frame count, an event, a state) and fails only when it
never comes. How fast it comes belongs in benchmarks: a loaded 2-core machine is slow, not wrong.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

TIMEOUT_S = 30.0


def wait_until(condition: Callable[[], T], timeout: float = TIMEOUT_S, what: str = "the condition",
               interval: float = 0.02) -> T:
    """Poll `condition()` until it returns something truthy, and return that; AssertionError
    naming `what` when `timeout` seconds pass first."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def wait_event(event: threading.Event, timeout: float = TIMEOUT_S, what: str = "the event") -> None:
    """`event.wait(timeout)`, as an AssertionError naming `what` when it is not set in time."""
    if not event.wait(timeout):
        raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")

