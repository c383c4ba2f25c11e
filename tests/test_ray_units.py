"""Ray runner pieces that need no cluster: sink split, segment names, resuming sources, the wire
format, and the one-line error when Ray is missing."""

from __future__ import annotations

import importlib.util
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from pipeline.config import load_config
from pipeline.errors import ArgusError
from pipeline.ray.resume import ResumingSource
from pipeline.ray.segments import segment_path
from pipeline.ray.split import actor_config, driver_sinks, is_per_source
from pipeline.ray.wire import FrameResult
from pipeline.source import StreamEnd, StreamStart
from pipeline.types import Detections, Frame, Packet

YAML = """
sources: [{id: a, uri: demo}, {id: b, uri: demo}]
stages: [{type: pose, model: yolo11n-pose}, {type: track}]
sinks:
  - {type: video}
  - {type: mot}
  - {type: detections, path: "per/{source_id}.jsonl"}
  - {type: detections, id: all, path: detections.jsonl}
  - {type: events}
runner: {ray: {streams_per_actor: 3, num_gpus_per_actor: 0.5}}
"""


def test_sinks_split_between_actors_and_driver() -> None:
    config = load_config(text=YAML)
    assert [is_per_source(s) for s in config.sinks] == [True, True, True, False, False]
    assert [s.id for s in driver_sinks(config)] == ["all", "events"]
    data = actor_config(config, [{"id": "a", "uri": "demo"}], "ray_per_source")
    assert [s["inner"]["type"] for s in data["sinks"]] == ["video", "mot", "detections"]
    assert data["runner"]["progress"] is False and "metrics" not in data
    assert config.runner.ray.streams_per_actor == 3 and config.runner.ray.num_gpus_per_actor == 0.5


def test_segment_paths_never_collide() -> None:
    assert segment_path("{source_id}.mp4", "cam1", 0) == "cam1.mp4"
    assert segment_path("{source_id}.mp4", "cam1", 2) == "cam1.part2.mp4"
    assert segment_path("runs/{source_id}/mot.txt", "x", 1) == "runs/x/mot.part1.txt"
    assert segment_path("{source_id}.mp4", "odd{id}", 1) == "odd{{id}}.part1.mp4"  # stays a literal


class _Counting:
    id, live = "s", False

    def open(self) -> None:
        pass

    def items(self, stop: threading.Event):
        yield StreamStart("s", "x", 4, 4, 10.0, 10)
        for i in range(10):
            yield Frame("s", i, i / 10, np.zeros((4, 4, 3), np.uint8))
        yield StreamEnd("s")

    def total_frames(self) -> int:
        return 10

    def close(self) -> None:
        pass


def test_resuming_source_starts_at_the_checkpoint() -> None:
    source = ResumingSource(_Counting(), 7)
    items = list(source.items(threading.Event()))
    assert isinstance(items[0], StreamStart) and isinstance(items[-1], StreamEnd)
    assert [f.index for f in items[1:-1]] == [7, 8, 9]
    assert source.total_frames() == 3
    live = _Counting()
    live.live = True
    shifted = [f.index for f in ResumingSource(live, 100).items(threading.Event()) if isinstance(f, Frame)]
    assert shifted == list(range(100, 110))  # a live source goes on from "now", numbered after the checkpoint


def test_only_numbers_cross_the_wire() -> None:
    import pickle

    dets = Detections(np.array([[1, 2, 3, 4]], np.float32), np.array([0.9], np.float32), np.array([0], np.int32),
                      track_id=np.array([5]), embedding=np.ones((1, 512), np.float32))
    packet = Packet(Frame("cam", 3, 0.3, np.zeros((720, 1280, 3), np.uint8)), dets, timings={"pose": 12.0})
    wire = pickle.dumps(FrameResult.of(packet))
    assert len(wire) < 2000  # no pixels, no embeddings
    back = pickle.loads(wire).packet()
    assert back.frame.width == 1280 and back.frame.height == 720 and back.frame.index == 3
    assert back.detections.to_records() == dets.to_records()


def test_missing_ray_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from pipeline.ray.cluster import require_ray

    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ArgusError) as info:
        require_ray()
    assert str(info.value).count("\n") == 0 and "pip install 'argus-pipeline[ray]'" in str(info.value)
    assert info.value.exit_code == 2


def test_cli_ray_without_ray(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                             capsys: pytest.CaptureFixture[str]) -> None:
    import logging
    import signal

    from argus.cli.main import main

    monkeypatch.setitem(sys.modules, "ray", None)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        assert main(["run", "--ray", "local", "--out", str(tmp_path), "--frames", "1"]) == 2
    finally:  # main() points logging at this test's captured stderr and takes the signals: give them back
        root.handlers[:], root.level = handlers, level
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    err = capsys.readouterr().err.strip()
    assert err == "--ray needs Ray, which is not installed: pip install 'argus-pipeline[ray]'"


@pytest.mark.parametrize(("address", "message"), [("127.0.0.1:9", "no Ray cluster answers there"),
                                                  ("nonsense", "expected auto, local or HOST:PORT")])
def test_bad_address_fails_fast(address: str, message: str) -> None:
    from pipeline.ray.cluster import _reachable

    with pytest.raises(ArgusError, match=message) as info:
        _reachable(address, timeout=2.0)
    assert info.value.exit_code == 2


def test_lost_limit_follows_the_measured_polls() -> None:
    from pipeline.ray.settings import RaySettings
    from pipeline.ray.state import Group

    settings = RaySettings(lost_after_polls=10, lost_after_min_s=3.0)
    group = Group(0, handle=None)

    def polls(*seconds: float) -> None:
        for took in seconds:
            group.sent_at = 100.0
            group.answered(100.0 + took)

    assert group.lost_limit(settings, 0.2) == 3.0  # nothing measured yet: the floor
    polls(0.2, 0.25, 0.21)  # an idle actor: the floor still
    assert group.lost_limit(settings, 0.2) == 3.0
    polls(5.0)  # one stalled poll among quick ones does not move it
    assert group.lost_limit(settings, 0.2) == 3.0
    polls(*[1.5] * 20)  # a loaded machine: every poll takes 1.5 s
    assert group.lost_limit(settings, 0.2) == pytest.approx(15.0)
    polls(*[0.3] * 20)  # quick again: the slow ones are forgotten
    assert group.lost_limit(settings, 0.2) == pytest.approx(3.0)
    assert group.lost_limit(RaySettings(lost_after_min_s=1.0, lost_after_polls=20), 0.2) == pytest.approx(6.0)


def test_both_runners_implement_the_pipeline_protocol(tmp_path: Path) -> None:
    from pipeline import Pipeline
    from pipeline.protocol import PipelineAPI

    config = load_config(text=f"sources: [{{id: a, uri: demo}}]\nstages: []\nsinks: [{{type: events}}]\n"
                              f"output_dir: '{tmp_path}'\n")
    single = Pipeline(config)
    try:
        assert isinstance(single, PipelineAPI) and single.ended is False
    finally:
        single.stop()
    if importlib.util.find_spec("ray") is not None:
        from pipeline.ray.driver import RayPipeline

        ray = RayPipeline(config)  # nothing starts before start()
        try:
            assert isinstance(ray, PipelineAPI) and ray.ended is False and not hasattr(ray, "worker")
        finally:
            ray.stop()
        assert ray.ended


def test_serve_uses_only_the_protocol() -> None:
    """argus/cli/serve never reaches into a runner's parts (a Pipeline's worker, sources or sinks)."""
    import ast

    for path in sorted((Path(__file__).resolve().parents[1] / "cli" / "serve").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in ("worker", "readers", "sources", "merger"):
                base = node.value
                owner = base.attr if isinstance(base, ast.Attribute) else getattr(base, "id", "")
                assert "pipeline" not in owner, f"{path.name}:{node.lineno}: .{node.attr} of a pipeline"


def test_driver_counts_frames_a_stage_skipped() -> None:
    """Under motion gating a still frame comes back without the gated stages' timings: the driver counts
    it as skipped for them (and as run for the others)."""
    from pipeline.config import SourceConfig
    from pipeline.ray.merge import Merger
    from pipeline.ray.state import Stream
    from pipeline.registry import Registry
    from pipeline.sink_set import SinkSet
    from pipeline.stats import RunStats

    stats = RunStats()
    merger = Merger(SinkSet([], stats, Registry().event_types), stats, threading.Event())
    stream = Stream(SourceConfig(id="cam", uri="x.mp4"), group=0)
    timings = [{"detect": 20.0, "track": 1.0, "zones": 0.1}, {"zones": 0.1}, {"zones": 0.1},
               {"detect": 19.0, "track": 1.0, "zones": 0.1}]
    for index, frame_timings in enumerate(timings):
        merger.frame(stream, FrameResult("cam", index, index / 10, 64, 48, Detections.empty(), frame_timings))
    assert {name: (t.frames, t.skipped) for name, t in stats.stages.items()} == {
        "detect": (2, 2), "track": (2, 2), "zones": (4, 0)}
