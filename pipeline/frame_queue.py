"""A bounded queue between a source's reader thread and the batcher.

Live sources drop the oldest *frame* when full (latency stays bounded, drops are counted);
file sources make the reader wait. Stream markers (start/end) are never dropped.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

from pipeline.types import Frame


class FrameQueue:
    """Items from one source, in order. `notify` is shared by all queues: every put sets it, so the
    batcher, which clears it before scanning, never sleeps through an item put during its scan."""

    def __init__(self, maxsize: int, *, drop_oldest: bool, notify: threading.Event) -> None:
        self.maxsize, self.drop_oldest, self.notify = maxsize, drop_oldest, notify
        self._items: deque[Any] = deque()
        self._lock = threading.Condition()
        self.dropped = 0
        self.frames = 0  # frames currently queued

    def put(self, item: Any, stop: threading.Event) -> bool:
        """Enqueue; returns False when a waiting put gave up because `stop` was set."""
        is_frame = isinstance(item, Frame)
        with self._lock:
            if is_frame and self.frames >= self.maxsize:
                if self.drop_oldest:
                    self._drop_oldest_frame()
                else:
                    while self.frames >= self.maxsize and not stop.is_set():
                        self._lock.wait(0.05)
                    if stop.is_set() and self.frames >= self.maxsize:
                        return False
            self._items.append(item)
            self.frames += is_frame
        self.notify.set()
        return True

    def _drop_oldest_frame(self) -> None:
        for i, queued in enumerate(self._items):
            if isinstance(queued, Frame):
                del self._items[i]
                self.frames -= 1
                self.dropped += 1
                return

    def get_nowait(self) -> Any | None:
        """The next item, or None when empty."""
        with self._lock:
            if not self._items:
                return None
            item = self._items.popleft()
            if isinstance(item, Frame):
                self.frames -= 1
                self._lock.notify()
            return item

    def __len__(self) -> int:
        return len(self._items)
