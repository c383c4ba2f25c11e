"""The batcher never sleeps through a frame put while it scans (live latency)."""

from __future__ import annotations

import statistics
import threading
import time

import numpy as np

from pipeline.batcher import IDLE_WAIT_S, Batcher
from pipeline.frame_queue import FrameQueue
from pipeline.types import Frame

IMAGE = np.zeros((4, 4, 3), np.uint8)


class _Reader:
    """The two attributes the batcher reads from a SourceReader."""

    def __init__(self, key: int, queue: FrameQueue) -> None:
        self.key, self.queue = key, queue


class _LateQueue(FrameQueue):
    """A queue that, the first time it is found empty, receives a frame right after that scan:
    the exact moment a check-then-wait batcher misses."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.put_at: float | None = None

    def get_nowait(self) -> object:
        item = super().get_nowait()
        if item is None and self.put_at is None:
            self.put_at = time.monotonic()
            self.put(Frame("cam", 0, 0.0, IMAGE), threading.Event())
        return item


def _first_batch_time(batcher: Batcher) -> float:
    for work in batcher.work(lambda: 4, lambda: 0.0, lambda: True):
        if isinstance(work, list):
            return time.monotonic()
    raise AssertionError("the batcher ended without a batch")


def test_frame_put_just_after_a_scan_is_taken_at_once() -> None:
    notify = threading.Event()
    queue = _LateQueue(8, drop_oldest=True, notify=notify)
    batcher = Batcher(notify)
    batcher.attach(_Reader(1, queue))  # type: ignore[arg-type]
    took = _first_batch_time(batcher)
    assert queue.put_at is not None
    assert took - queue.put_at < 0.02, f"waited {took - queue.put_at:.3f} s (idle wait is {IDLE_WAIT_S} s)"


def test_frames_from_another_thread_wait_milliseconds_not_the_idle_timeout() -> None:
    notify = threading.Event()
    queue = FrameQueue(64, drop_oldest=True, notify=notify)
    batcher = Batcher(notify)
    batcher.attach(_Reader(1, queue))  # type: ignore[arg-type]
    put_times: dict[int, float] = {}
    latencies: list[float] = []
    frames = 60

    def produce() -> None:
        rng = np.random.default_rng(0)
        for i in range(frames):
            time.sleep(float(rng.uniform(0.0005, 0.004)))
            put_times[i] = time.monotonic()
            queue.put(Frame("cam", i, i / 25, IMAGE), threading.Event())

    producer = threading.Thread(target=produce)
    producer.start()
    for work in batcher.work(lambda: 1, lambda: 0.0, lambda: len(latencies) < frames):
        if isinstance(work, list):
            now = time.monotonic()
            latencies.extend(now - put_times[f.index] for f in work)
        if len(latencies) >= frames:
            break
    producer.join()
    assert len(latencies) == frames
    assert statistics.median(latencies) < 0.005
    assert max(latencies) < IDLE_WAIT_S / 2, f"worst wait {max(latencies):.3f} s"
