"""Hot reload on a running pipeline with the real pose model and tracker.

Two looping file sources run the whole time. While they run: a third source is added and removed,
`score_min` changes (in place), the tracker changes (rebuilt), and the model's `imgsz` changes
(a new model, built off the worker thread). The untouched sources must never stop, lose or reorder
a frame; events come in order; their videos stay playable. The model is built while frames flow:
the build itself waits for new frames of an untouched source (no pause is timed).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import av
import pytest

from pipeline import EXIT_OK, Pipeline
from pipeline.errors import ConfigError
from tests.conftest import write_video
from tests.waiting import wait_until

pytestmark = pytest.mark.slow


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


class _Recorder:
    """Drains a packet subscription in its own thread: (source, frame index)."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.seen: list[tuple[str, int]] = []
        self.subscription = pipeline.subscribe(maxlen=100_000)
        self.thread = threading.Thread(target=self._drain, daemon=True)
        self.thread.start()

    def _drain(self) -> None:
        for packet in self.subscription:
            self.seen.append((packet.frame.source_id, packet.frame.index))

    def frames(self, source_id: str) -> int:
        return sum(1 for s, _ in self.seen if s == source_id)

    def wait_for(self, source_id: str, count: int, timeout: float = 120.0) -> None:
        start = self.frames(source_id)
        wait_until(lambda: self.frames(source_id) >= start + count, timeout,
                   what=f"{count} new frames of {source_id}")


def _build_while_frames_flow(pipeline: Pipeline, recorder: _Recorder, stage_type: str,
                             monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Make building a `stage_type` stage wait for 5 new frames of source `a` after the model is
    built: a build on the worker thread would wait forever (and fail). Returns the frame counts of
    `a` seen inside the build, before and after that wait."""
    build, counts = pipeline.registry.build_stage, []

    def build_stage(config: Any) -> Any:
        stage = build(config)
        if config.type == stage_type:
            counts.append(recorder.frames("a"))
            recorder.wait_for("a", 5)
            counts.append(recorder.frames("a"))
        return stage

    monkeypatch.setattr(pipeline.registry, "build_stage", build_stage)
    return counts


def test_hot_reload_keeps_untouched_sources_flowing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b, c = (write_video(tmp_path / f"{n}.mp4", 50) for n in "abc")
    out = tmp_path / "out"
    text = f"""
sources:
  - {{id: a, uri: "{a}", loop: true}}
  - {{id: b, uri: "{b}", loop: true}}
stages:
  - {{type: pose, imgsz: 256, score_min: 0.25}}
  - {{type: track, tracker: argus}}
sinks:
  - {{type: detections}}
  - {{type: events}}
  - {{type: video}}
output_dir: "{out}"
runner: {{progress: false, max_batch: 2}}
"""
    pipeline = Pipeline.from_config(text)
    recorder = _Recorder(pipeline)
    pipeline.start()
    recorder.wait_for("a", 10)

    pipeline.add_source({"id": "c", "uri": str(c), "loop": True})
    recorder.wait_for("c", 5)
    pipeline.remove_source("c")

    report = pipeline.apply(text.replace("score_min: 0.25", "score_min: 0.4"))
    assert report["changed"] == {"stages": {"reconfigured": ["pose"]}}
    recorder.wait_for("a", 5)
    text = text.replace("score_min: 0.25", "score_min: 0.4")

    report = pipeline.apply(text.replace("tracker: argus", "tracker: bytetrack"))
    assert report["changed"] == {"stages": {"rebuilt": ["track"]}}
    text = text.replace("tracker: argus", "tracker: bytetrack")
    recorder.wait_for("a", 5)

    with pytest.raises(ConfigError) as invalid:  # invalid: nothing changes, check's FILE:LINE format
        pipeline.apply(text.replace("imgsz: 256", "imgsz: 250"))
    assert str(invalid.value).startswith("<apply>:") and "stages.0.imgsz" in str(invalid.value)

    inside_build = _build_while_frames_flow(pipeline, recorder, "pose", monkeypatch)
    report = pipeline.apply(text.replace("imgsz: 256", "imgsz: 320"))
    assert len(inside_build) == 2 and inside_build[1] >= inside_build[0] + 5  # frames flowed meanwhile
    assert report["changed"] == {"stages": {"rebuilt": ["pose"]}} and report["version"] == 4
    recorder.wait_for("a", 5)
    pipeline.stop()
    assert pipeline.wait(60) == EXIT_OK
    recorder.thread.join(10)

    # untouched sources: every frame, in order, through every change
    rows = _jsonl(out / "detections.jsonl")
    for source_id in ("a", "b"):
        indices = [r["frame"] for r in rows if r["source"] == source_id]
        assert indices == list(range(len(indices))) and len(indices) > 30
        assert [i for s, i in recorder.seen if s == source_id] == indices
    # events, in order
    events = _jsonl(out / "events.jsonl")
    kinds = [(e["type"], e["source"]) for e in events if e["type"] in (
        "source_added", "source_removed", "config_applied", "stream_ended")]
    assert kinds[:3] == [("source_added", "c"), ("stream_ended", "c"), ("source_removed", "c")]
    versions = [e["version"] for e in events if e["type"] == "config_applied"]
    assert versions == [2, 3, 4]  # the invalid config was never applied
    started = [e["track_id"] for e in events if e["type"] == "track_started"]
    assert len(started) == len(set(started))  # ids never reused, rebuilt tracker included
    # the untouched sources' videos are whole and playable
    for source_id in ("a", "b"):
        with av.open(str(out / f"{source_id}.mp4")) as container:
            decoded = sum(1 for _ in container.decode(video=0))
        assert decoded == sum(1 for r in rows if r["source"] == source_id)


def test_hot_reload_of_sinks_and_added_stages_without_a_model(tmp_path: Path) -> None:
    from pipeline.hot_reload import ReloadError

    a = write_video(tmp_path / "a.mp4", 40)
    out = tmp_path / "out"
    config = {"sources": [{"id": "a", "uri": str(a), "loop": True}], "stages": [],
              "sinks": [{"type": "events"}, {"type": "video"}], "output_dir": str(out),
              "runner": {"progress": False, "max_batch": 2}}
    pipeline = Pipeline.from_config(config)
    recorder = _Recorder(pipeline)
    pipeline.start()
    recorder.wait_for("a", 10)
    video_sink = pipeline.worker.sinks.slots[1].sink

    config["sinks"][1]["annotate"] = [{"type": "boxes"}]
    assert pipeline.apply(config)["changed"] == {"sinks": {"reconfigured": ["video"]}}
    assert pipeline.worker.sinks.slots[1].sink is video_sink  # same object: its file stays open

    config["sinks"].append({"type": "detections", "id": "rows"})
    config["stages"].append({"type": "track"})
    assert pipeline.apply(config)["changed"] == {"stages": {"added": ["track"]}, "sinks": {"added": ["rows"]}}
    recorder.wait_for("a", 10)

    broken = {**config, "sinks": [*config["sinks"], {"type": "events", "id": "more", "path": "a.mp4/more.jsonl"}]}
    with pytest.raises(ReloadError, match="old config keeps running"):
        pipeline.apply(broken)  # a.mp4 is a file: the sink cannot open under it
    assert pipeline.version == 3 and [s.id for s in pipeline.worker.sinks.slots] == ["events", "video", "rows"]

    config["sinks"] = config["sinks"][:2]
    assert pipeline.apply(config)["changed"] == {"sinks": {"removed": ["rows"]}}
    recorder.wait_for("a", 10)
    pipeline.stop()
    assert pipeline.wait(30) == EXIT_OK
    rows = _jsonl(out / "detections.jsonl")
    indices = [r["frame"] for r in rows]
    assert indices and indices[0] > 0 and indices == list(range(indices[0], indices[0] + len(indices)))
    assert all(r["detections"] == [] for r in rows)  # track stage added: ran on every frame (no detections)
    processed = [i for s, i in recorder.seen if s == "a"]
    with av.open(str(out / "a.mp4")) as container:  # one file through every change, every frame
        assert sum(1 for _ in container.decode(video=0)) == len(processed)
    applied = [e for e in _jsonl(out / "events.jsonl") if e["type"] == "config_applied"]
    assert [e["version"] for e in applied] == [2, 3, 4]
