"""Runner: batching across sources, order, no drops for files, stream errors, fail-fast opens.

These runs use real sources and sinks with no model stage (or a recording stage), so they are fast.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from pipeline import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, Pipeline
from pipeline.config import load_config
from pipeline.errors import SourceOpenError
from pipeline.frame_queue import FrameQueue
from pipeline.source import StreamEnd
from pipeline.types import Event, Frame, Packet
from tests.conftest import write_video
from tests.waiting import wait_event, wait_until


class RecordingStage:
    """A real (trivial) stage that records the batches it saw and can be slow."""

    name = "record"

    def __init__(self, delay_s: float = 0.0) -> None:
        self.batches: list[list[tuple[str, int]]] = []
        self.ended: list[str] = []
        self.delay_s = delay_s

    def process(self, batch: Sequence[Packet]) -> list[Packet]:
        self.batches.append([(p.frame.source_id, p.frame.index) for p in batch])
        time.sleep(self.delay_s)
        return list(batch)

    def end_source(self, source_id: str) -> list[Event]:
        self.ended.append(source_id)
        return []

    def close(self) -> None:
        pass


class HoldingStage(RecordingStage):
    """Records batches; before batch `at` it waits until `ready()` is true, or until `release` is set."""

    def __init__(self, at: int, ready: Callable[[], bool] | None = None) -> None:
        super().__init__()
        self.at, self.ready, self.release = at, ready, threading.Event()

    def process(self, batch: Sequence[Packet]) -> list[Packet]:
        if len(self.batches) == self.at:
            if self.ready is not None:
                wait_until(self.ready, what="the stage's condition")
            else:
                wait_event(self.release, what="the test to release the stage")
        return super().process(batch)


def config_for(tmp_path: Path, sources: list[dict], **runner: object):
    return load_config(None, replace={
        "sources": sources, "output_dir": str(tmp_path / "out"),
        "sinks": [{"type": "detections"}, {"type": "events"}, {"type": "video"}],
        "runner": {"progress": False, **runner}})


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_runner_batches_across_sources_in_order(tmp_path: Path) -> None:
    a, b = write_video(tmp_path / "a.mp4", 30), write_video(tmp_path / "b.mp4", 20)
    config = config_for(tmp_path, [{"id": "a", "uri": str(a)}, {"id": "b", "uri": str(b)}],
                        max_batch=4, max_wait_ms=20)
    runner: Pipeline | None = None

    def both_queued() -> bool:  # from then on every round takes a frame of each: batches mix
        assert runner is not None
        return all(len(reader.queue) > 0 for reader in runner.readers.values())

    stage = HoldingStage(at=1, ready=both_queued)
    runner = Pipeline(config, stages=[stage])
    assert runner.run() == EXIT_OK
    seen = [item for batch in stage.batches for item in batch]
    assert [i for s, i in seen if s == "a"] == list(range(30))
    assert [i for s, i in seen if s == "b"] == list(range(20))
    assert max(len(b) for b in stage.batches) <= 4
    assert any({s for s, _ in batch} == {"a", "b"} for batch in stage.batches)
    assert sorted(stage.ended) == ["a", "b"]
    assert runner.run_stats.frames_per_source == {"a": 30, "b": 20}
    assert runner.run_stats.dropped_per_source == {"a": 0, "b": 0}


def test_runner_file_source_waits_instead_of_dropping(tmp_path: Path) -> None:
    video = write_video(tmp_path / "v.mp4", 40)
    config = config_for(tmp_path, [{"id": "v", "uri": str(video), "queue_size": 1}], max_batch=1)
    runner = Pipeline(config, stages=[RecordingStage(delay_s=0.01)])
    assert runner.run() == EXIT_OK
    assert runner.run_stats.frames_per_source == {"v": 40} and runner.run_stats.dropped_per_source == {"v": 0}
    lines = read_jsonl(tmp_path / "out" / "detections.jsonl")
    assert [line["frame"] for line in lines] == list(range(40))


def test_runner_frame_interval_and_max_frames(tmp_path: Path) -> None:
    video = write_video(tmp_path / "v.mp4", 40)
    config = config_for(tmp_path, [{"id": "v", "uri": str(video), "frame_interval": 3, "max_frames": 5}])
    stage = RecordingStage()
    assert Pipeline(config, stages=[stage]).run() == EXIT_OK
    assert [i for batch in stage.batches for _, i in batch] == [0, 3, 6, 9, 12]
    events = read_jsonl(tmp_path / "out" / "events.jsonl")
    assert [e["type"] for e in events] == ["stream_opened", "stream_ended"]


def test_runner_truncated_file_is_stream_error_others_continue(tmp_path: Path) -> None:
    good = write_video(tmp_path / "good.mp4", 50)
    full = write_video(tmp_path / "full.mp4", 60).read_bytes()
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(full[: len(full) // 2])
    config = config_for(tmp_path, [{"id": "broken", "uri": str(broken)}, {"id": "good", "uri": str(good)}])
    runner = Pipeline(config, stages=[RecordingStage()])
    assert runner.run() == EXIT_FAILED
    assert "truncated" in runner.run_stats.failed_sources["broken"]
    events = read_jsonl(tmp_path / "out" / "events.jsonl")
    errors = [e for e in events if e["type"] == "stream_error"]
    assert len(errors) == 1 and errors[0]["source"] == "broken" and "truncated" in errors[0]["error"]
    assert any(e["type"] == "stream_ended" and e["source"] == "good" for e in events)
    frames = read_jsonl(tmp_path / "out" / "detections.jsonl")
    broken_frames = [f["frame"] for f in frames if f["source"] == "broken"]
    assert broken_frames == list(range(len(broken_frames))) and 0 < len(broken_frames) < 60
    assert sum(f["source"] == "good" for f in frames) == 50
    import av

    with av.open(str(tmp_path / "out" / "broken.mp4")) as container:  # what was processed is playable
        assert sum(1 for _ in container.decode(video=0)) == len(broken_frames)


def test_runner_missing_file_fails_before_stages_are_built(tmp_path: Path) -> None:
    config = load_config(None, replace={"sources": [{"id": "cam", "uri": str(tmp_path / "nope.mp4")}]})
    with pytest.raises(SourceOpenError) as info:
        Pipeline(config)  # default stages would load the model: the error must come first
    assert str(info.value) == f"source 'cam': cannot open {tmp_path / 'nope.mp4'}: no such file"
    assert info.value.exit_code == 2


def test_runner_stop_event_ends_orderly(tmp_path: Path) -> None:
    video = write_video(tmp_path / "v.mp4", 200)
    config = config_for(tmp_path, [{"id": "v", "uri": str(video)}])
    stage = HoldingStage(at=3)  # the fourth batch waits until the stop was requested
    runner = Pipeline(config, stages=[stage])
    codes: list[int] = []
    thread = threading.Thread(target=lambda: codes.append(runner.run()))
    thread.start()
    wait_until(lambda: len(stage.batches) == 3, what="three batches")
    runner.interrupted = True
    runner.stop()
    stage.release.set()
    thread.join(60)
    assert codes == [EXIT_INTERRUPTED]
    processed = runner.run_stats.frames_per_source["v"]
    assert 3 <= processed < 200  # what was queued is finished; the rest of the file is not read
    events = read_jsonl(tmp_path / "out" / "events.jsonl")
    assert events[-1]["type"] == "stream_ended" and events[-1]["reason"] == "interrupted"
    assert len(read_jsonl(tmp_path / "out" / "detections.jsonl")) == processed


def test_frame_queue_live_drops_oldest_frames_not_markers() -> None:
    wake = threading.Event()
    queue = FrameQueue(2, drop_oldest=True, notify=wake)
    stop = threading.Event()
    frames = [Frame("c", i, i / 10, None) for i in range(5)]  # type: ignore[arg-type]
    queue.put(frames[0], stop)
    queue.put(StreamEnd("x"), stop)
    for frame in frames[1:]:
        queue.put(frame, stop)
    items = [queue.get_nowait() for _ in range(len(queue))]
    assert queue.dropped == 3
    assert isinstance(items[0], StreamEnd) and [f.index for f in items[1:]] == [3, 4]


def test_frame_queue_file_put_blocks_until_stopped() -> None:
    queue = FrameQueue(1, drop_oldest=False, notify=threading.Event())
    stop = threading.Event()
    assert queue.put(Frame("f", 0, 0.0, None), stop)  # type: ignore[arg-type]
    threading.Timer(0.1, stop.set).start()
    assert queue.put(Frame("f", 1, 0.1, None), stop) is False  # type: ignore[arg-type]
    assert queue.dropped == 0 and len(queue) == 1


@pytest.mark.parametrize("events_path", ["not-a-dir/events.db", "not-a-dir/events.jsonl"])
def test_runner_closes_sinks_already_built_when_a_later_one_fails(tmp_path: Path, events_path: str) -> None:
    import threading as th

    from pipeline.errors import SinkOpenError

    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where a folder is needed")
    config = load_config(None, replace={
        "sources": [{"id": "v", "uri": str(write_video(tmp_path / "v.mp4", 5))}], "output_dir": str(tmp_path),
        "sinks": [{"type": "webhook", "url": "http://127.0.0.1:9/hook", "outbox": "outbox.db"},
                  {"type": "events", "path": events_path}]})
    with pytest.raises(SinkOpenError, match=r"^sink 'events': .*not-a-dir"):
        Pipeline(config, stages=[])
    assert not [t for t in th.enumerate() if t.name == "sink-webhook" and t.is_alive()]


def test_runner_reports_undelivered_outbox(tmp_path: Path) -> None:
    from tests.live_servers import free_port

    video = write_video(tmp_path / "v.mp4", 5)
    config = load_config(None, replace={
        "sources": [{"id": "v", "uri": str(video)}], "output_dir": str(tmp_path), "runner": {"progress": False},
        "sinks": [{"type": "events"}, {"type": "webhook", "url": f"http://127.0.0.1:{free_port()}/hook",
                   "flush_timeout_s": 0.5}]})
    runner = Pipeline(config, stages=[])
    assert runner.run() == EXIT_OK
    written = len((tmp_path / "events.jsonl").read_text().splitlines())
    assert written == 2 and runner.run_stats.outbox == {"webhook": written}  # nobody listens: all wait
    assert runner.run_stats.to_json()["outbox"] == {"webhook": 2}
