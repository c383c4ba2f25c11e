"""The `zones` stage (issue 25): line crossings, zone stays, counts, checks, hot reload and drawing.

Synthetic tracks go through the real stage (and, in the last tests, a real Pipeline): a track is a list
of anchor positions per frame at 10 fps, drawn as boxes whose bottom centre is that position.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from pipeline import EXIT_OK, Pipeline
from pipeline.config import load_config
from pipeline.errors import ConfigError
from pipeline.metrics import stage_families
from pipeline.registry import default_registry
from pipeline.stage import StageConfig
from pipeline.types import Detections, Event, EventType, Frame, Packet
from stages.annotate import annotate_frame, build_annotators
from stages.zones.config import ZonesConfig
from stages.zones.geometry import anchors, points_in_polygon, segments_intersect, self_intersection
from stages.zones.stage import ZonesStage

FPS = 10.0
W, H = 640, 480
IMAGE = np.zeros((H, W, 3), np.uint8)
DOOR = {"id": "door", "points": [[300, 100], [300, 400]]}  # vertical, drawn downwards: `in` is right to left


def rows(tracks: dict[int, tuple[float, float]], class_name: str = "person", **extra) -> Detections:
    """Boxes 40x100 whose bottom centre is each track's position."""
    ids = list(tracks)
    xyxy = np.array([[x - 20, y - 100, x + 20, y] for x, y in tracks.values()], np.float32).reshape(-1, 4)
    return Detections(xyxy=xyxy, score=np.full(len(ids), 0.9, np.float32), class_id=np.zeros(len(ids), np.int32),
                      track_id=np.array(ids, np.int64),
                      extra={"class_name": np.array([class_name] * len(ids), object), **extra})


def run(stage: ZonesStage, frames: list[dict[int, tuple[float, float]]], source: str = "cam",
        ended: dict[int, list[int]] | None = None, start: int = 0, **extra) -> list[Event]:
    """Feed one packet per frame; `ended` = frame -> track ids whose track_ended comes on that frame."""
    events: list[Event] = []
    for i, tracks in enumerate(frames, start):
        packet = Packet(Frame(source, i, i / FPS, IMAGE), rows(tracks, **extra))
        for tid in (ended or {}).get(i, []):
            packet.events.append(Event(EventType.TRACK_ENDED, source, (i - 1) / FPS, i - 1, tid))
        events += [e for e in stage.process([packet])[0].events if e.type != EventType.TRACK_ENDED]
    return events


def walk(x0: float, x1: float, steps: int, y: float = 250.0) -> list[tuple[float, float]]:
    return [(x0 + (x1 - x0) * k / (steps - 1), y) for k in range(steps)]


def stage_of(**config) -> ZonesStage:
    return ZonesStage(ZonesConfig(**{"anchor": "bottom_center", **config}))


def crossings(events: list[Event]) -> list[tuple[int | None, str, str]]:
    return [(e.track_id, e.payload["line"], e.payload["direction"]) for e in events if e.type == "line_crossed"]


# --- geometry ---

def test_geometry_segments_polygons_and_anchors() -> None:
    assert segments_intersect((0, 0), (10, 10), (0, 10), (10, 0))
    assert not segments_intersect((0, 0), (10, 0), (20, -5), (20, 5))  # crosses the infinite line only
    assert segments_intersect((0, 0), (10, 0), (10, -5), (10, 5))  # touching an end counts
    assert self_intersection([(0, 0), (10, 10), (10, 0), (0, 10)]) == (0, 2)  # a bow tie
    assert self_intersection([(0, 0), (10, 0), (10, 10), (0, 10)]) is None
    square = np.array([[0, 0], [10, 0], [10, 10], [0, 10]])
    assert points_in_polygon(np.array([[5, 5], [15, 5], [-1, 5]]), square).tolist() == [True, False, False]
    kp = np.zeros((2, 17, 3), np.float32)
    kp[0, 15], kp[0, 16] = (10, 90, 0.9), (20, 94, 0.8)  # both ankles seen
    kp[1, 15] = (60, 70, 0.3)  # an ankle below 0.5: bottom centre
    boxes = np.array([[0, 0, 40, 100], [50, 0, 90, 80]], np.float32)
    np.testing.assert_allclose(anchors(boxes, kp, "feet"), [[15, 92], [70, 80]])
    np.testing.assert_allclose(anchors(boxes, None, "feet"), [[20, 100], [70, 80]])
    np.testing.assert_allclose(anchors(boxes, kp, "center"), [[20, 50], [70, 40]])


# --- lines ---

def test_a_crossing_counts_once_with_the_documented_direction() -> None:
    stage = stage_of(lines=[DOOR], min_frames=3)
    events = run(stage, [{1: p} for p in walk(400, 200, 11)])  # right to left across x = 300
    assert crossings(events) == [(1, "door", "in")]
    crossed = next(e for e in events if e.type == "line_crossed")
    # x is 300 on frame 5 (on the line: no change) and below from frame 6: the 3rd frame there is 8
    assert crossed.frame_index == 8 and crossed.payload["class_name"] == "person"
    events = run(stage, [{2: p} for p in walk(200, 400, 11)], start=20)
    assert crossings(events) == [(2, "door", "out")]
    assert stage.counts()["sources"]["cam"]["lines"]["door"] == {"in": {"person": 1}, "out": {"person": 1}}


def test_jitter_across_the_line_counts_once() -> None:
    stage = stage_of(lines=[DOOR], min_frames=3)
    path = [(320, 250), (310, 250), (295, 250), (305, 250), (294, 250), (306, 250), (296, 250), (303, 250),
            (290, 250), (285, 250), (280, 250), (270, 250), (260, 250)]  # flickers across x = 300, then leaves
    assert crossings(run(stage, [{1: p} for p in path])) == [(1, "door", "in")]
    stage = stage_of(lines=[DOOR], min_frames=3)
    flicker = [(305, 250), (295, 250)] * 10  # never stays 3 frames on a side: nothing
    assert crossings(run(stage, [{1: p} for p in flicker])) == []
    stage = stage_of(lines=[DOOR], min_frames=1)  # min_frames 1: every flip would count, recount_s stops it
    assert crossings(run(stage, [{1: p} for p in flicker])) == [(1, "door", "in"), (1, "door", "out")]


def test_only_the_segment_counts_not_the_infinite_line() -> None:
    stage = stage_of(lines=[DOOR], min_frames=2)
    below = walk(400, 200, 11, y=450)  # passes x = 300 below the segment's end (y 400)
    assert crossings(run(stage, [{1: p} for p in below])) == []
    back = walk(200, 400, 11, y=250)  # the same track back through the segment: a crossing out
    assert crossings(run(stage, [{1: p} for p in back], start=11)) == [(1, "door", "out")]


def test_unconfirmed_tracks_never_count_and_recount_s_limits_a_track() -> None:
    stage = stage_of(lines=[DOOR], zones=[{"id": "left", "polygon": [[0, 0], [300, 0], [300, 480], [0, 480]]}],
                     min_frames=2)
    events = run(stage, [{-1: p} for p in walk(400, 200, 11)])
    assert events == [] and stage.counts()["sources"]["cam"]["zones"]["left"]["total"] == 0
    stage = stage_of(lines=[DOOR], min_frames=2, recount_s=5.0)
    there_and_back = walk(400, 200, 6) + walk(200, 400, 6) + walk(400, 200, 6)  # 1.8 s in all
    assert crossings(run(stage, [{3: p} for p in there_and_back])) == [(3, "door", "in"), (3, "door", "out")]
    stage = stage_of(lines=[DOOR], min_frames=2, recount_s=0.5)
    assert len(crossings(run(stage, [{3: p} for p in there_and_back]))) == 3


def test_an_id_switch_on_the_line_does_not_count_twice() -> None:
    stage = stage_of(lines=[DOOR], min_frames=3)
    first = walk(400, 302, 6)  # id 7 walks up to the line and is lost on it
    second = walk(298, 200, 6)  # id 8 takes over on the far side: its first position is already there
    events = run(stage, [{7: p} for p in first] + [{8: p} for p in second], ended={8: [7]})
    assert crossings(events) == []
    stage = stage_of(lines=[DOOR], min_frames=3)  # the switch after the crossing: the old id counted once
    first, second = walk(400, 240, 9), walk(238, 200, 6)  # 3 frames past the line, then the new id
    events = run(stage, [{7: p} for p in first] + [{8: p} for p in second], ended={10: [7]})
    assert crossings(events) == [(7, "door", "in")]


def test_classes_filter_and_identity_in_the_payload() -> None:
    stage = stage_of(lines=[{**DOOR, "classes": ["car"]}], min_frames=1)
    assert crossings(run(stage, [{1: p} for p in walk(400, 200, 5)])) == []
    stage = stage_of(lines=[DOOR], min_frames=1)
    events = run(stage, [{1: p} for p in walk(400, 200, 5)], identity=np.array(["ana"], object))
    assert [(e.payload.get("identity"), e.payload["class_name"]) for e in events] == [("ana", "person")]


def test_default_min_frames_is_about_0_3_s_at_the_stream_rate() -> None:
    stage = stage_of(lines=[DOOR])
    assert stage.min_frames(10.0) == 3 and stage.min_frames(25.0) == 8 and stage.min_frames(1.0) == 1
    run(stage, [{1: p} for p in walk(400, 380, 4)])
    assert stage._sources["cam"].fps == pytest.approx(FPS)


# --- zones ---

LAWN = {"id": "lawn", "polygon": [[0, 0], [250, 0], [250, 480], [0, 480]], "loiter_s": 2.0}


def test_zone_enter_exit_and_loiter_timing() -> None:
    stage = stage_of(zones=[LAWN], min_frames=3)
    path = [(300, 250)] * 2 + [(200, 250)] * 30 + [(300, 250)] * 5  # inside from frame 2 to 31
    events = [e for e in run(stage, [{4: p} for p in path]) if e.type.startswith("zone")]
    got = [(e.type, e.frame_index, e.payload.get("dwell_s")) for e in events]
    # entered when 3 frames inside (frame 4); loitering on the first frame 2.0 s after the stay began
    # (frame 22); exited when 3 frames outside (frame 34): the stay is frames 2..31, 3.0 s
    assert got == [("zone_entered", 4, None), ("zone_loitering", 22, 2.0), ("zone_exited", 34, 3.0)]
    assert stage.counts()["sources"]["cam"]["zones"]["lawn"] == {"current": 0, "total": 1}


def test_rows_carry_the_zones_their_anchor_is_in() -> None:
    stage = stage_of(zones=[LAWN, {"id": "all", "polygon": [[0, 0], [640, 0], [640, 480], [0, 480]]}])
    packet = stage.process([Packet(Frame("cam", 0, 0.0, IMAGE), rows({1: (100, 200), 2: (400, 200), -1: (10, 10)}))])[0]
    assert packet.detections.column("zones").tolist() == [["lawn", "all"], ["all"], ["lawn", "all"]]
    assert packet.detections.to_records()[1]["zones"] == ["all"]


def test_a_track_that_ends_inside_a_zone_exits_it() -> None:
    stage = stage_of(zones=[LAWN], min_frames=2)
    events = run(stage, [{5: (100, 250)}] * 10 + [{}] * 3, ended={12: [5]})
    exits = [e for e in events if e.type == "zone_exited"]
    assert [(e.track_id, e.pts_s, e.payload["dwell_s"]) for e in exits] == [(5, 0.9, 0.9)]  # last seen frame 9
    stage = stage_of(zones=[LAWN], min_frames=2)
    run(stage, [{6: (100, 250)}] * 5)
    assert stage.counts()["sources"]["cam"]["zones"]["lawn"]["current"] == 1
    ended = stage.end_source("cam")  # the stream ended: every stay closes, counts stay
    assert [(e.type, e.track_id, e.payload["dwell_s"]) for e in ended] == [("zone_exited", 6, 0.4)]
    assert stage.counts()["sources"]["cam"]["zones"]["lawn"] == {"current": 0, "total": 1}


# --- hot reload ---

def test_hot_reload_keeps_the_counts_of_unchanged_lines_and_zones() -> None:
    till = {"id": "till", "points": [[0, 300], [640, 300]]}
    config = ZonesConfig(anchor="bottom_center", lines=[DOOR, till], zones=[LAWN], min_frames=1)
    stage = ZonesStage(config)
    run(stage, [{1: p} for p in walk(400, 200, 5)] + [{1: (200, 350)}] * 3)  # in at the door, down over till
    before = stage.counts()["sources"]["cam"]
    assert before["lines"]["door"]["in"] == {"person": 1} and before["lines"]["till"]["in"] == {"person": 1}
    moved = {**till, "points": [[0, 320], [640, 320]]}
    assert stage.reconfigure(ZonesConfig(anchor="bottom_center", lines=[DOOR, moved], zones=[LAWN], min_frames=1))
    after = stage.counts()["sources"]["cam"]
    assert after["lines"]["door"] == before["lines"]["door"]  # unchanged: kept
    assert after["lines"]["till"] == {"in": {}, "out": {}}  # changed: from zero
    assert after["zones"]["lawn"] == before["zones"]["lawn"] == {"current": 1, "total": 1}
    events = run(stage, [{1: (200, 350)}, {1: (400, 350)}, {1: (400, 350)}], start=8)  # track 1 goes on
    assert crossings(events) == [(1, "door", "out")] and stage.counts()["sources"]["cam"]["zones"]["lawn"]["total"] == 1


# --- bad input ---

def check_errors(stage_yaml: str) -> list[str]:
    text = f"sources:\n  - {{id: cam, uri: demo}}\nstages:\n  - {{type: track}}\n{stage_yaml}"
    with pytest.raises(ConfigError) as err:
        load_config(Path("cfg.yaml"), text=text)
    return str(err.value).splitlines()


@pytest.mark.parametrize(("stage_yaml", "message"), [
    ("  - {type: zones, zones: [{id: lawn, polygon: [[0, 0], [5, 5]]}]}",
     "cfg.yaml:5: stages.1.zones.0: zone 'lawn': a polygon needs at least 3 points, got 2"),
    ("  - {type: zones, zones: [{id: bow, polygon: [[0, 0], [10, 10], [10, 0], [0, 10]]}]}",
     "cfg.yaml:5: stages.1.zones.0: zone 'bow': the polygon crosses itself (edge 0 from [0, 0] meets edge 2 "
     "from [10, 0])"),
    ("  - {type: zones, lines: [{id: door, points: [[5, 5], [5, 5]]}]}",
     "cfg.yaml:5: stages.1.lines.0: line 'door': its two points coincide ([5, 5])"),
    ("  - {type: zones, lines: [{id: a, points: [[0, 0], [5, 5]]}, {id: a, points: [[1, 0], [5, 5]]}]}",
     "cfg.yaml:5: stages.1.lines: repeated line id 'a'"),
])
def test_check_names_the_bad_zone_or_line(stage_yaml: str, message: str) -> None:
    assert check_errors(stage_yaml) == [message]


def test_zones_need_track_ids_and_points_outside_the_frame_warn(caplog: pytest.LogCaptureFixture) -> None:
    from pipeline.capabilities import capability_problem

    configs: list[StageConfig] = [default_registry().stages["detect"].config(model="yolov8n", output="objects"),
                                  ZonesConfig(input="objects")]
    assert "needs track_ids on the set 'objects'" in capability_problem(configs)
    stage = stage_of(zones=[{"id": "far", "polygon": [[0, 0], [700, 0], [700, 100]]}])
    with caplog.at_level(logging.WARNING, logger="argus"):
        run(stage, [{1: (10, 10)}] * 2)
    warned = [r.getMessage() for r in caplog.records if "outside" in r.getMessage()]
    assert warned == ["stage 'zones': zone 'far' has points outside the 640x480 frame of source 'cam': "
                      "[700, 0], [700, 100]"]
    with pytest.raises(ValidationError):
        ZonesConfig(anchor="head")


# --- drawing, stats, Prometheus, events in a real pipeline ---

def test_annotator_draws_lines_and_zones_from_the_packet() -> None:
    stage = stage_of(lines=[DOOR], zones=[LAWN], min_frames=1)
    packets = [stage.process([Packet(Frame("cam", i, i / FPS, IMAGE), rows({1: p}))])[0]
               for i, p in enumerate(walk(400, 200, 5))]
    overlay = packets[-1].overlays["zones"]
    assert overlay["lines"][0]["in"] == 1 and overlay["zones"][0]["id"] == "lawn"
    assert packets[0].overlays["zones"]["lines"][0]["in"] == 0  # each frame shows its own counts
    drawn = annotate_frame(IMAGE, packets[-1].detections, build_annotators([{"type": "zones"}]), packets[-1].overlays)
    assert drawn[250, 300].any() and drawn[250, 100].any()  # the line and the lawn's fill
    bare = annotate_frame(IMAGE, packets[-1].detections, build_annotators([{"type": "zones"}]))
    assert not bare.any()


def test_counts_reach_stats_prometheus_and_events_in_a_pipeline(tmp_path: Path) -> None:
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(12):
        image = np.zeros((120, 160, 3), np.uint8)
        x = 150 - 12 * i  # a bright person walking right to left across x = 80
        cv2.rectangle(image, (x - 6, 40), (x + 6, 100), (255, 255, 255), -1)
        cv2.imwrite(str(frames / f"{i:03d}.png"), image)
    registry = default_registry().copy()
    registry.add_stage("bright", BrightConfig, BrightStage)
    text = (f"sources:\n  - {{id: cam, uri: '{frames}', fps: 10}}\nstages:\n  - {{type: bright}}\n"
            "  - {type: zones, anchor: bottom_center, min_frames: 2,\n"
            "     lines: [{id: door, points: [[80, 0], [80, 120]]}],\n"
            "     zones: [{id: left, polygon: [[0, 0], [80, 0], [80, 120], [0, 120]]}]}\n"
            f"sinks:\n  - {{type: events, path: events.jsonl}}\n  - {{type: detections, path: rows.jsonl}}\n"
            f"output_dir: '{tmp_path}'\nrunner: {{progress: false}}\n")
    pipeline = Pipeline(load_config(text=text, registry=registry), registry=registry)
    assert pipeline.run() == EXIT_OK
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    mine = [(e["type"], e.get("line") or e.get("zone"), e.get("direction")) for e in events
            if e["type"].startswith(("line", "zone"))]
    assert mine == [("line_crossed", "door", "in"), ("zone_entered", "left", None), ("zone_exited", "left", None)]
    counts = pipeline.stats()["counts"]["zones"]["sources"]["cam"]
    assert counts == {"lines": {"door": {"in": {"person": 1}, "out": {}}},
                      "zones": {"left": {"current": 0, "total": 1}}}
    families = {f.name: f for f in stage_families(pipeline.metric_samples())}
    sample = families["argus_line_crossings"].samples[0]
    assert sample.labels == {"stage": "zones", "source": "cam", "line": "door", "direction": "in",
                             "class": "person"} and sample.value == 1
    rows_out = [json.loads(line) for line in (tmp_path / "rows.jsonl").read_text().splitlines()]
    assert any(r["zones"] == ["left"] for row in rows_out for r in row.get("detections", []))


class BrightConfig(StageConfig):
    """Test-only: the bright box of each frame as a tracked person (track id 1)."""

    type: Literal["bright"] = "bright"

    def provides(self) -> tuple[str | None, frozenset[str]]:
        return None, frozenset({"track_ids"})


class BrightStage:
    name = "bright"

    def __init__(self, config: BrightConfig) -> None:
        self.config = config

    def process(self, batch: list[Packet]) -> list[Packet]:
        for packet in batch:
            ys, xs = np.nonzero(packet.frame.image.max(axis=2) > 128)
            if xs.size:
                packet.detections = rows({1: (float(xs.min() + xs.max() + 1) / 2, float(ys.max() + 1))})
        return list(batch)

    def end_source(self, source_id: str) -> list[Event]:
        return []

    def close(self) -> None:
        pass


# --- the benchmark's ground truth and peer direction mapping ---

def test_bench_truth_and_peer_directions_follow_argus_convention() -> None:
    from argus.benchmarks.zones import _LineZones, _synthetic_crossing, direction_mapping, middle_lines, true_crossings

    lines = middle_lines(W, H)
    for line in lines:
        there = _synthetic_crossing(line, to_right=True)
        assert true_crossings(there, [line]) == {line[0]: {"in": 1, "out": 0}}
        assert true_crossings([*there, (31, there[0][1])], [line])[line[0]] == {"in": 1, "out": 1}  # jumps back
    mapping = direction_mapping(_LineZones, lines)
    assert {m["in"] for m in mapping.values()} <= {"first", "second"}
    assert all(m["in"] != m["out"] for m in mapping.values())
