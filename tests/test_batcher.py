"""The batcher never sleeps through a frame put while it scans (live latency).

No test measures how long a wake-up takes (a loaded machine is slow, not wrong): the wake-up event
records every wait that ran out, and a frame put after a scan must never leave the batcher waiting
until its idle timeout.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

import pipeline.batcher as batcher_module
from pipeline.batcher import Batcher
from pipeline.frame_queue import FrameQueue
from pipeline.types import Frame

IMAGE = np.zeros((4, 4, 3), np.uint8)
LONG_IDLE_S = 30.0  # a missed wake-up waits this long, and is counted


class _Reader:
    """The two attributes the batcher reads from a SourceReader."""

    def __init__(self, key: int, queue: FrameQueue) -> None:
        self.key, self.queue = key, queue


class _CountingEvent(threading.Event):
    """The wake-up event, counting the waits that ran out instead of being woken."""

    def __init__(self) -> None:
        super().__init__()
        self.waits = self.timeouts = 0

    def wait(self, timeout: float | None = None) -> bool:
        self.waits += 1
        woken = super().wait(timeout)
        self.timeouts += not woken
        return woken


class _LateQueue(FrameQueue):
    """A queue that, the first time it is found empty, receives a frame right after that scan:
    the exact moment a check-then-wait batcher misses."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.put_late = False

    def get_nowait(self) -> object:
        item = super().get_nowait()
        if item is None and not self.put_late:
            self.put_late = True
            self.put(Frame("cam", 0, 0.0, IMAGE), threading.Event())
        return item


@pytest.fixture(autouse=True)
def long_idle_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """An idle wait long enough that sleeping through a put cannot pass unnoticed."""
    monkeypatch.setattr(batcher_module, "IDLE_WAIT_S", LONG_IDLE_S)


def test_frame_put_just_after_a_scan_is_taken_at_once() -> None:
    notify = _CountingEvent()
    queue = _LateQueue(8, drop_oldest=True, notify=notify)
    batcher = Batcher(notify)
    batcher.attach(_Reader(1, queue))  # type: ignore[arg-type]
    batch = next(w for w in batcher.work(lambda: 4, lambda: 0.0, lambda: True) if isinstance(w, list))
    assert queue.put_late and [f.index for f in batch] == [0]
    assert notify.waits >= 1, "the batcher never waited: the late put was not after a scan"
    assert notify.timeouts == 0, "the batcher slept through the frame put after its scan"


def test_frames_from_another_thread_wake_the_batcher_every_time() -> None:
    notify = _CountingEvent()
    queue = FrameQueue(64, drop_oldest=True, notify=notify)
    batcher = Batcher(notify)
    batcher.attach(_Reader(1, queue))  # type: ignore[arg-type]
    frames = 60
    taken: list[int] = []

    def produce() -> None:
        rng = np.random.default_rng(0)
        pause = threading.Event()
        for i in range(frames):  # puts land both while the batcher scans and while it waits
            pause.wait(float(rng.uniform(0.0005, 0.004)))
            queue.put(Frame("cam", i, i / 25, IMAGE), threading.Event())

    producer = threading.Thread(target=produce)
    producer.start()
    for work in batcher.work(lambda: 1, lambda: 0.0, lambda: len(taken) < frames):
        if isinstance(work, list):
            taken.extend(f.index for f in work)
        if len(taken) >= frames:
            break
    producer.join()
    assert taken == list(range(frames))  # none dropped, in order
    assert notify.timeouts == 0, f"{notify.timeouts} of {notify.waits} waits slept through a put"
