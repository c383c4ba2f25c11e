"""Processed packets (or events) handed to a consumer outside the pipeline without slowing it down.

A subscription is a bounded buffer. The default never blocks the pipeline: when the consumer is
slow the oldest item is dropped and counted. `lossless=True` makes the pipeline wait instead (for a
caller that iterates results and wants every one, e.g. `Pipeline.packets()` over files).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class Subscription(Generic[T]):
    """Iterate it (blocks until the next item, ends when the pipeline ends or `close()` is called)."""

    def __init__(self, maxlen: int = 8, lossless: bool = False) -> None:
        self.maxlen, self.lossless = maxlen, lossless
        self._items: deque[T] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self.dropped = 0
        self.delivered = 0

    def put(self, item: T, stop: threading.Event | None = None) -> None:
        """From the pipeline: add an item, dropping the oldest (or waiting, when lossless) when full."""
        with self._cond:
            if self._closed:
                return
            while self.lossless and len(self._items) >= self.maxlen and not self._closed:
                if stop is not None and stop.is_set():
                    break
                self._cond.wait(0.05)
            if len(self._items) >= self.maxlen:
                self._items.popleft()
                self.dropped += 1
            self._items.append(item)
            self._cond.notify_all()

    def get(self, timeout: float | None = None) -> T | None:
        """The next item; None when closed and drained, or after `timeout` seconds."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._items or self._closed, timeout):
                return None
            if not self._items:
                return None
            item = self._items.popleft()
            self.delivered += 1
            self._cond.notify_all()
            return item

    def close(self) -> None:
        """No more items: iteration ends once the buffer is drained."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed

    def __iter__(self) -> Iterator[T]:
        while True:
            item = self.get()
            if item is None:
                return
            yield item
