"""The output lane: sink writes, events and subscriber feeds on a thread of their own, in order.

The worker thread runs the stages of batch N+1 while this thread writes batch N (H.264 encoding,
JSON, drawing), so output time overlaps inference instead of adding to it. Work runs strictly in
submission order, so a stream's start, its frames, its events and its end reach every sink in the
order the worker produced them. The queue is bounded (`depth` batches): a slow sink or a lossless
subscriber holds the worker back, nothing is ever dropped here.

`hold()` drains the lane and runs further work inline until released: the worker holds it while it
runs commands (hot reload swaps sinks) and at shutdown, so no sink is touched by two threads.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

log = logging.getLogger("argus")

_STOP = object()


class OutputLane:
    """Runs submitted callables in order on one thread (or inline when `threaded` is False)."""

    def __init__(self, depth: int = 2, threaded: bool = True) -> None:
        self.threaded = threaded
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, depth))
        self._inline = 0  # hold() depth: > 0 runs work in the caller's thread
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None  # an unexpected failure of submitted work (sinks contain theirs)

    def start(self) -> None:
        if self.threaded and self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="argus-output", daemon=True)
            self._thread.start()

    def submit(self, fn: Callable[[], object]) -> None:
        """Run `fn` after everything submitted before it; blocks while the lane is full."""
        if self._thread is None or self._inline:
            self._run(fn)
        else:
            self._queue.put(fn)

    def drain(self) -> None:
        """Wait until everything submitted so far has run."""
        if self._thread is not None:
            self._queue.join()

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Drain, then run submitted work inline (in the caller's thread) until the block ends."""
        self.drain()
        self._inline += 1
        try:
            yield
        finally:
            self._inline -= 1

    def stop(self) -> None:
        """Run what is queued, then end the thread; later work runs inline."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(_STOP)
            thread.join()

    def _loop(self) -> None:
        while True:
            fn = self._queue.get()
            try:
                if fn is _STOP:
                    return
                self._run(fn)
            finally:
                self._queue.task_done()

    def _run(self, fn: Callable[[], object]) -> None:
        try:
            fn()
        except Exception as exc:  # sinks contain their own failures; this is a bug, keep going but report it
            log.exception("output lane: %s: %s", type(exc).__name__, exc)
            self.error = self.error or exc
