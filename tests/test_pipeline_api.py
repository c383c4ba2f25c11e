"""The Python API: start/stop/wait, add and remove sources, stats, subscriptions, packets()."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
import yaml

from pipeline import EXIT_OK, Pipeline
from pipeline.errors import ConfigError, SourceOpenError
from pipeline.types import Event, Packet
from tests.conftest import write_video
from tests.waiting import wait_event, wait_until


class SlowStage:
    """Takes `delay_s` per batch (a stand-in for a model), records nothing."""

    name = "slow"

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s

    def process(self, batch: Sequence[Packet]) -> list[Packet]:
        time.sleep(self.delay_s)
        return list(batch)

    def end_source(self, source_id: str) -> list[Event]:
        return []

    def close(self) -> None:
        pass


class HeldStage(SlowStage):
    """Holds every batch until the test sets `release`."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def process(self, batch: Sequence[Packet]) -> list[Packet]:
        wait_event(self.release, what="the test to release the stage")
        return list(batch)


def _yaml(tmp_path: Path, sources: list[dict], **extra: object) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump({"sources": sources, "stages": [], "sinks": [{"type": "events"},
                                    {"type": "detections"}], "output_dir": str(tmp_path / "out"),
                                    "runner": {"progress": False}, **extra}))
    return path


def _events(tmp_path: Path) -> list[dict]:
    return [json.loads(line) for line in (tmp_path / "out" / "events.jsonl").read_text().splitlines()]


def test_start_returns_at_once_and_wait_gives_the_exit_code(tmp_path: Path) -> None:
    video = write_video(tmp_path / "v.mp4", 40)
    stage = HeldStage()
    pipeline = Pipeline.from_yaml(_yaml(tmp_path, [{"id": "v", "uri": str(video)}]),
                                  overrides=["runner.max_batch=2"], stages=[stage])
    assert pipeline.config.runner.max_batch == 2
    returned = threading.Event()
    threading.Thread(target=lambda: (pipeline.start(), returned.set()), daemon=True).start()
    wait_event(returned, what="start() to return while the stage holds the first batch")
    assert pipeline.wait(0.01) is None  # still running
    snapshot = pipeline.stats()
    assert snapshot["state"] == "running" and set(snapshot["sources"]) == {"v"}
    stage.release.set()
    assert pipeline.wait(60) == EXIT_OK
    snapshot = pipeline.stats()
    assert snapshot["state"] == "ended" and snapshot["sources"]["v"]["frames"] == 40
    assert snapshot["sources"]["v"]["state"] == "ended" and snapshot["stages"]["slow"]["frames"] == 40
    json.dumps(snapshot)  # JSON-ready


def test_packets_iterates_every_frame_in_the_callers_thread(tmp_path: Path) -> None:
    a, b = write_video(tmp_path / "a.mp4", 25), write_video(tmp_path / "b.mp4", 15)
    pipeline = Pipeline.from_yaml(_yaml(tmp_path, [{"id": "a", "uri": str(a)}, {"id": "b", "uri": str(b)}]),
                                  stages=[])
    seen = [(p.frame.source_id, p.frame.index) for p in pipeline.packets(maxlen=2)]
    assert [i for s, i in seen if s == "a"] == list(range(25))
    assert [i for s, i in seen if s == "b"] == list(range(15))


def test_leaving_packets_early_stops_the_pipeline_in_order(tmp_path: Path) -> None:
    video = write_video(tmp_path / "v.mp4", 200)
    pipeline = Pipeline.from_yaml(_yaml(tmp_path, [{"id": "v", "uri": str(video), "loop": True}]), stages=[])
    for count, _packet in enumerate(pipeline.packets(), 1):
        if count == 10:
            break
    assert pipeline.worker.finished.is_set()
    assert _events(tmp_path)[-1]["type"] == "stream_ended"


def test_slow_subscriber_loses_frames_but_never_slows_the_pipeline(tmp_path: Path) -> None:
    video = write_video(tmp_path / "v.mp4", 120)
    pipeline = Pipeline.from_yaml(_yaml(tmp_path, [{"id": "v", "uri": str(video)}]), stages=[])
    subscription = pipeline.subscribe(maxlen=4)  # nobody reads it
    assert pipeline.run() == EXIT_OK
    assert pipeline.run_stats.frames == 120
    assert subscription.dropped == 116 and len(list(subscription)) == 4  # the newest four are kept


def test_add_and_remove_sources_while_running(tmp_path: Path) -> None:
    a, c = write_video(tmp_path / "a.mp4", 30), write_video(tmp_path / "c.mp4", 30)
    pipeline = Pipeline.from_yaml(_yaml(tmp_path, [{"id": "a", "uri": str(a), "loop": True}]),
                                  stages=[SlowStage(0.005)])
    pipeline.start()
    with pytest.raises(SourceOpenError, match=r"source 'x': cannot open .*nope\.mp4: no such file"):
        pipeline.add_source({"id": "x", "uri": str(tmp_path / "nope.mp4")})
    with pytest.raises(ConfigError, match="already running"):
        pipeline.add_source({"id": "a", "uri": str(c)})
    with pytest.raises(ConfigError, match="source: id: String should match"):
        pipeline.add_source({"id": "bad id!", "uri": str(c)})
    pipeline.add_source({"id": "c", "uri": str(c), "loop": True})
    wait_until(lambda: pipeline.run_stats.frames_per_source.get("c", 0) >= 10, what="10 frames of c")
    pipeline.remove_source("c")
    assert pipeline.stats()["sources"]["c"]["state"] == "ended"
    assert [s.id for s in pipeline.config.sources] == ["a"]
    with pytest.raises(ConfigError, match="no running source with id 'c'"):
        pipeline.remove_source("c")
    frames_a = pipeline.run_stats.frames_per_source["a"]
    pipeline.stop()
    assert pipeline.wait(30) == EXIT_OK
    assert pipeline.run_stats.frames_per_source["a"] > frames_a  # a never stopped
    kinds = [(e["type"], e["source"]) for e in _events(tmp_path) if e["source"] == "c"]
    assert kinds[0] == ("source_added", "c") and kinds[-2:] == [("stream_ended", "c"), ("source_removed", "c")]
    rows = [json.loads(line) for line in (tmp_path / "out" / "detections.jsonl").read_text().splitlines()]
    indices = [r["frame"] for r in rows if r["source"] == "a"]
    assert indices == list(range(len(indices)))  # untouched source: contiguous, in order


def test_stop_before_start_closes_everything_and_wait_returns(tmp_path: Path) -> None:
    video = write_video(tmp_path / "v.mp4", 10)
    pipeline = Pipeline.from_yaml(_yaml(tmp_path, [{"id": "v", "uri": str(video)}]), stages=[])
    pipeline.stop()
    assert pipeline.wait(5) == EXIT_OK and pipeline.stats()["state"] == "ended"
    assert (tmp_path / "out" / "events.jsonl").read_text() == ""  # nothing ran, the file is closed


def test_stages_passed_in_stay_open_for_their_owner(tmp_path: Path) -> None:
    class Counting(SlowStage):
        closed = 0

        def close(self) -> None:
            self.closed += 1

    video = write_video(tmp_path / "v.mp4", 5)
    stage = Counting()
    for _ in range(2):  # the same stage serves two runs (what the benchmarks do)
        assert Pipeline.from_yaml(_yaml(tmp_path, [{"id": "v", "uri": str(video)}]), stages=[stage]).run() == 0
    assert stage.closed == 0
