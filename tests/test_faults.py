"""Faults stay local: a stage that raises, a sink whose disk write fails, a camera down at start."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from pipeline import EXIT_FAILED, EXIT_OK, Pipeline
from pipeline.config import load_config
from pipeline.types import Detections, Event, Packet
from tests.conftest import file_size_limit, write_video
from tests.live_servers import free_port


class FlakyStage:
    """Finds 12 'people' per frame (with keypoints, so detection lines are large) and raises on
    every `every`-th batch."""

    name = "flaky"

    def __init__(self, every: int = 10) -> None:
        self.every, self.calls, self.raised = every, 0, 0

    def process(self, batch: Sequence[Packet]) -> list[Packet]:
        self.calls += 1
        if self.calls % self.every == 0:
            self.raised += 1
            raise RuntimeError(f"injected failure {self.raised}")
        for packet in batch:
            n = 12
            xyxy = np.tile(np.array([[10, 10, 50, 90]], np.float32), (n, 1))
            packet.detections = Detections(xyxy, np.full(n, 0.9, np.float32), np.zeros(n, np.int32),
                                           keypoints=np.ones((n, 17, 3), np.float32))
        return list(batch)

    def end_source(self, source_id: str) -> list[Event]:
        return []

    def close(self) -> None:
        pass


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _config(tmp_path: Path, sources: list[dict], sinks: list[dict], **runner: object):
    return load_config(None, replace={"sources": sources, "sinks": sinks, "output_dir": str(tmp_path / "out"),
                                      "runner": {"progress": False, "max_batch": 2, **runner}})


@pytest.fixture
def small_disk() -> Iterator[int]:
    """Files this process writes may not grow past 60_000 bytes (EFBIG, like a full disk)."""
    with file_size_limit(60_000) as limit:
        yield limit


def test_stage_failing_one_batch_in_ten_and_a_full_disk_sink(tmp_path: Path, small_disk: int) -> None:
    a, b = write_video(tmp_path / "a.mp4", 40), write_video(tmp_path / "b.mp4", 30)
    config = _config(tmp_path, [{"id": "a", "uri": str(a)}, {"id": "b", "uri": str(b)}],
                     [{"type": "detections"}, {"type": "events"}])
    stage = FlakyStage(every=10)
    pipeline = Pipeline(config, stages=[stage])
    code = pipeline.run()
    out = tmp_path / "out"
    assert code == EXIT_FAILED  # the sink failed: reported at the end, after every frame was processed
    assert pipeline.run_stats.frames == 70 and pipeline.run_stats.frames_per_source == {"a": 40, "b": 30}
    # the stage: every failure counted, one event per source of each failed batch
    assert stage.raised == stage.calls // 10 >= 3
    assert pipeline.run_stats.stage_errors == {"flaky": stage.raised}
    events = _jsonl(out / "events.jsonl")
    stage_errors = [e for e in events if e["type"] == "stage_error"]
    injected = {f"RuntimeError: injected failure {k + 1}" for k in range(stage.raised)}
    assert {e["error"] for e in stage_errors} == injected
    assert all(e["stage"] == "flaky" and e["source"] in ("a", "b") for e in stage_errors)
    # the sink that hit the size limit was closed, its lines are whole, the others are complete
    assert set(pipeline.run_stats.failed_sinks) == {"detections"}
    sink_errors = [e for e in events if e["type"] == "sink_error"]
    assert len(sink_errors) == 1 and sink_errors[0]["sink"] == "detections"
    written = _jsonl(out / "detections.jsonl")
    assert 0 < len(written) < 70 and (out / "detections.jsonl").stat().st_size <= small_disk
    ended = {e["source"]: e["frames"] for e in events if e["type"] == "stream_ended"}
    assert ended == {"a": 40, "b": 30}  # the events sink saw every stream to its end


def test_consecutive_stage_failures_end_the_run(tmp_path: Path) -> None:
    video = write_video(tmp_path / "v.mp4", 200)
    config = _config(tmp_path, [{"id": "v", "uri": str(video)}], [{"type": "events"}], max_stage_errors=3)
    stage = FlakyStage(every=1)
    pipeline = Pipeline(config, stages=[stage])
    assert pipeline.run() == EXIT_FAILED
    assert pipeline.run_stats.stage_errors["flaky"] >= 3 and pipeline.run_stats.frames < 200
    events = _jsonl(tmp_path / "out" / "events.jsonl")
    assert events[-1]["type"] == "stream_ended"  # the stream was still closed in order


def test_stage_errors_are_logged_once_per_distinct_error(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    class Same(FlakyStage):
        def process(self, batch: Sequence[Packet]) -> list[Packet]:
            raise ValueError("always the same")

    video = write_video(tmp_path / "v.mp4", 20)
    config = _config(tmp_path, [{"id": "v", "uri": str(video)}], [{"type": "events"}])
    pipeline = Pipeline(config, stages=[Same()])
    assert pipeline.run() == EXIT_OK  # 10 failures < max_stage_errors (50)
    lines = [r.getMessage() for r in caplog.records if r.levelname == "ERROR" and "always the same" in r.getMessage()]
    assert len(lines) == 1 and "stage 'flaky'" in lines[0] and "v" in lines[0]
    failed = [e for e in _jsonl(tmp_path / "out" / "events.jsonl") if e["type"] == "stage_error"]
    assert pipeline.run_stats.stage_errors == {"flaky": len(failed)} and len(failed) >= 10  # 20 frames, batches <= 2



def test_live_source_down_at_start_retries_instead_of_aborting(tmp_path: Path) -> None:
    video = write_video(tmp_path / "v.mp4", 10)
    port = free_port()  # nothing listens there
    config = _config(tmp_path, [{"id": "cam", "uri": f"rtsp://127.0.0.1:{port}/x", "open_timeout_s": 1,
                                 "reconnect_max_s": 0.5}, {"id": "file", "uri": str(video)}],
                     [{"type": "events"}])
    pipeline = Pipeline(config, stages=[])  # no SourceOpenError: the camera retries in the background
    pipeline.start()
    deadline = 0
    while pipeline.run_stats.frames_per_source.get("file", 0) < 10 and deadline < 200:
        pipeline.wait(0.05)
        deadline += 1
    assert pipeline.stats()["sources"]["cam"]["state"] == "reconnecting"
    pipeline.stop()
    assert pipeline.wait(30) == EXIT_OK
    types = [(e["source"], e["type"]) for e in _jsonl(tmp_path / "out" / "events.jsonl")]
    assert ("cam", "stream_lost") in types and ("file", "stream_ended") in types
