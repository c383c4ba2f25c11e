"""Batching: takes items from every reader's queue, fairly, and groups frames into batches.

One item per queue per round keeps sources fair. Frames are grouped until `max_batch` or until
`max_wait_ms` passed since the first frame of the batch; a stream marker (start, end, lost...)
first flushes the frames before it, so each source's order is kept. The batcher clears the shared
wake-up event *before* it scans, and every put sets it: a frame put while the batcher scans wakes
it at once instead of waiting for a timeout.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

from pipeline.readers import ReaderDone, SourceReader
from pipeline.source import StreamMarker
from pipeline.types import Frame

Work = list[Frame] | StreamMarker | ReaderDone | None  # None: nothing to do now (a control point)
IDLE_WAIT_S = 0.25  # upper bound of an idle sleep; every put, command and stop wakes it earlier


class Batcher:
    """The readers the pipeline is taking frames from; `attach` is safe from any thread."""

    def __init__(self, notify: threading.Event) -> None:
        self.notify = notify
        self.readers: dict[int, SourceReader] = {}  # worker thread only
        self._incoming: list[SourceReader] = []
        self._lock = threading.Lock()

    def attach(self, reader: SourceReader) -> None:
        """Start taking from `reader`'s queue (from the next round on)."""
        with self._lock:
            self._incoming.append(reader)
        self.notify.set()

    def _adopt(self) -> bool:
        with self._lock:
            incoming, self._incoming = self._incoming, []
        for reader in incoming:
            self.readers[reader.key] = reader
        return bool(incoming)

    def work(self, max_batch: Callable[[], int], max_wait_s: Callable[[], float],
             keep_going: Callable[[], bool]) -> Iterator[Work]:
        """Batches, markers and control points (None), until every reader is done and `keep_going()`
        is False. Settings are read through callables so a hot reload changes them mid-run."""
        batch: list[Frame] = []
        deadline, turn = 0.0, 0
        while True:
            self.notify.clear()
            self._adopt()
            readers = list(self.readers.values())
            took = False
            for k in range(len(readers)):
                reader = readers[(turn + k) % len(readers)]
                item = reader.queue.get_nowait()
                if item is None:
                    continue
                took = True
                if isinstance(item, Frame):
                    if not batch:
                        deadline = time.monotonic() + max_wait_s()
                    batch.append(item)
                    if len(batch) >= max_batch():
                        yield batch
                        batch = []
                    continue
                if batch:  # keep order: frames before a stream marker are processed first
                    yield batch
                    batch = []
                if isinstance(item, ReaderDone):
                    self.readers.pop(item.key, None)
                yield item
            turn += 1
            idle = not self.readers and not self._incoming and not any(len(r.queue) for r in readers)
            if batch and (idle or time.monotonic() >= deadline or (not took and max_wait_s() == 0)):
                yield batch
                batch = []
                continue
            if idle and not keep_going():
                return
            if not took:
                yield None
                self.notify.wait(max(0.0, deadline - time.monotonic()) if batch else IDLE_WAIT_S)
