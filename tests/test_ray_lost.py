"""The lost-actor rule with both cores busy (two busy-loop processes): an actor that works, however
slowly its polls come back, is never counted lost; one that really stops answering (SIGSTOP) still
is, is restarted once it answers again, and its stream resumes where the merged outputs stopped."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pipeline.config import load_config
from tests.ray_checks import frames_by_source, read_jsonl
from tests.waiting import wait_until

if TYPE_CHECKING:
    from pipeline.ray.driver import RayPipeline

pytestmark = pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                                reason="ray is not installed (pip install 'argus-pipeline[ray]')")

CONFIG = """
sources: [{{id: a, uri: '{video}', loop: true}}]
stages:
  - {{type: pose, model: yolo11n-pose, imgsz: 320, threads: 1, backend: onnxruntime, score_min: 0.1}}
  - {{type: track, tracker: sort}}
sinks: [{{type: detections}}, {{type: events}}]
output_dir: {out}
runner: {{progress: false, ray: {{streams_per_actor: 1, num_cpus_per_actor: 0.5}}}}
"""


@contextlib.contextmanager
def busy_cpus() -> Iterator[None]:
    """Two processes spinning: both cores of the test machine are busy."""
    loops = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        yield
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()


def test_no_false_loss_under_load_and_a_hung_actor_resumes(vtest: Path, tmp_path: Path) -> None:
    from pipeline.ray.driver import RayPipeline

    out = tmp_path / "out"
    pipeline = RayPipeline(load_config(text=CONFIG.format(video=vtest, out=out)), "local", keep_alive=True)
    seen: list[tuple[str, str]] = []
    subscription = pipeline.subscribe_events(maxlen=100_000)

    def listen() -> None:
        for event in subscription:
            seen.append((event.type, event.source_id))

    threading.Thread(target=listen, daemon=True).start()
    pipeline.start()  # Ray and the model start on a quiet machine; the run is loaded from here on
    try:
        with busy_cpus():
            _lose_and_resume(pipeline, seen)
    finally:
        pipeline.stop()
        assert pipeline.wait(180) == 0
    assert seen.count(("stream_lost", "a")) == 1 and seen.count(("stream_recovered", "a")) == 1
    events = read_jsonl(out / "events.jsonl")
    assert not [i for i, n in Counter(e["id"] for e in events).items() if n > 1], "an event merged twice"
    merged = frames_by_source(read_jsonl(out / "detections.jsonl"))["a"]
    assert merged == list(range(len(merged)))  # resumed at the checkpoint: no frame lost or merged twice


def _lose_and_resume(pipeline: RayPipeline, seen: list[tuple[str, str]]) -> None:
    """No loss while the actor works; SIGSTOP: lost; SIGCONT: restarted, the stream resumes."""

    def frames() -> int:
        return pipeline.stats()["sources"]["a"]["frames"]

    wait_until(lambda: frames() >= 20, timeout=300, what="20 frames under load")
    assert ("stream_lost", "a") not in seen, "a working actor was counted lost"
    actor = pipeline.stats()["actors"]["0"]
    print(f"under load: polls take {actor['typical_poll_s']} s (slowest {actor['slowest_poll_s']} s); "
          f"lost after {actor['lost_after_s']} s")
    assert actor["lost_after_s"] >= 10.0 and actor["typical_poll_s"] > 0
    os.kill(actor["pid"], signal.SIGSTOP)  # the actor hangs: Ray still sees its process
    try:
        wait_until(lambda: ("stream_lost", "a") in seen, timeout=2 * actor["lost_after_s"] + 60,
                   what="the hung actor to be counted lost")
    finally:
        os.kill(actor["pid"], signal.SIGCONT)  # it answers again: it is restarted, the stream resumes
    wait_until(lambda: ("stream_recovered", "a") in seen, timeout=300, what="the stream to resume")
    resumed = frames()
    wait_until(lambda: frames() >= resumed + 5, timeout=300, what="5 frames after the resume")
