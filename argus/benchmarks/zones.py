"""`run.py bench zones`: line counts against the MOT ground truth, Argus beside supervision and ultralytics.

Per sequence of DATA_DIR (MOTChallenge: seqinfo.ini, gt/gt.txt, det/det.txt; img1/ for end to end):
two lines through the middle of the frame, `v` (x = W/2, drawn top to bottom) and `h` (y = H/2, drawn
left to right). The true crossings are the GT tracks' bottom-centre paths (rows flagged 0 dropped)
crossing each segment, per direction (Argus's convention: `in` = to the right-hand side of the line
as drawn, i.e. right to left over `v`, downwards over `h`).

Counted, per line x direction, from:
  - `gt_tracks`: the GT tracks themselves (the counters' logic alone, perfect tracks);
  - `argus_tracker`: Argus's tracker on the public detections (det/det.txt), as `bench tracker` runs it;
  - `end_to_end` (sequences with frames): the default Argus pipeline plus a zones stage on the frames;
each track set through Argus's zones stage (anchor bottom_center, default min_frames and recount_s),
supervision's LineZone (anchor BOTTOM_CENTER) and ultralytics' ObjectCounter (fed boxes whose centre
is the bottom centre, so all three read the same point). Peer directions are mapped to Argus's by a
synthetic crossing through each line before the run. Errors are count minus truth.
"""

from __future__ import annotations

import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from argus.tools.tracking.evaluate import run_sequence
from argus.tools.tracking.mot import list_sequences, load_sequence, read_mot_rows, read_seqinfo
from pipeline.types import Detections, Frame, Packet
from stages.zones.config import ZonesConfig
from stages.zones.geometry import segments_intersect, side
from stages.zones.stage import ZonesStage

Tracks = list[tuple[int, Detections]]  # (1-based frame, tracked rows) per frame
Line = tuple[str, tuple[float, float], tuple[float, float]]
DIRECTIONS = ("in", "out")


def middle_lines(width: int, height: int) -> list[Line]:
    return [("v", (width / 2, 0.0), (width / 2, float(height))), ("h", (0.0, height / 2), (float(width), height / 2))]


def gt_tracks(seq_dir: Path, length: int) -> Tracks:
    """The ground truth as tracked rows per frame (rows flagged 0 dropped)."""
    rows = read_mot_rows(seq_dir / "gt" / "gt.txt")
    rows = rows[rows[:, 6] != 0]
    out: Tracks = []
    for f in range(1, length + 1):
        r = rows[rows[:, 0] == f]
        xyxy = np.column_stack([r[:, 2:4], r[:, 2:4] + r[:, 4:6]]).astype(np.float32)
        out.append((f, Detections(xyxy=xyxy, score=np.ones(len(r), np.float32), class_id=np.zeros(len(r), np.int32),
                                  track_id=r[:, 1].astype(np.int64))))
    return out


def true_crossings(tracks: Tracks, lines: list[Line]) -> dict[str, dict[str, int]]:
    """Every crossing of each segment by each GT bottom-centre path: a change of side between two
    annotated positions (a position exactly on the line keeps the side before it) through the segment."""
    last: dict[tuple[int, str], tuple[float, tuple[float, float]]] = {}  # (id, line) -> (side, position)
    counts = {name: dict.fromkeys(DIRECTIONS, 0) for name, _, _ in lines}
    for _, det in tracks:
        for box, tid in zip(det.xyxy.tolist(), det.track_id.tolist(), strict=True):
            point = ((box[0] + box[2]) / 2, box[3])
            for name, a, b in lines:
                now = side(a, b, point)
                if now == 0:
                    continue
                before = last.get((tid, name))
                last[(tid, name)] = (now, point)
                if before is not None and before[0] * now < 0 and segments_intersect(before[1], point, a, b):
                    counts[name]["in" if now > 0 else "out"] += 1
    return counts


def _bottom_centred(xyxy: np.ndarray) -> np.ndarray:
    """Boxes moved so that their centre is the original bottom centre (ObjectCounter counts centres)."""
    out = xyxy.copy()
    half = (xyxy[:, 3] - xyxy[:, 1]) / 2
    out[:, 1] += half
    out[:, 3] += half
    return out


def argus_counts(tracks: Tracks, lines: list[Line], fps: float, size: tuple[int, int]) -> dict:
    """Argus's zones stage over the tracks (anchor bottom_center, default min_frames and recount_s)."""
    stage = ZonesStage(ZonesConfig(anchor="bottom_center", lines=[
        {"id": name, "points": [list(a), list(b)]} for name, a, b in lines]))
    image = np.broadcast_to(np.zeros((1, 1, 3), np.uint8), (size[1], size[0], 3))
    for f, det in tracks:
        stage.process([Packet(Frame("seq", f - 1, (f - 1) / fps, image), det)])
    counts = stage.counts()["sources"]["seq"]["lines"]
    return {name: {d: sum(counts[name][d].values()) for d in DIRECTIONS} for name, _, _ in lines}


class _LineZones:
    """supervision's LineZone, one per line."""

    def __init__(self, lines: list[Line]) -> None:
        import supervision as sv

        self.sv = sv
        self.zones = {name: sv.LineZone(sv.Point(*a), sv.Point(*b), triggering_anchors=[sv.Position.BOTTOM_CENTER])
                      for name, a, b in lines}

    def update(self, det: Detections) -> None:
        if not len(det):
            return
        rows = self.sv.Detections(xyxy=det.xyxy.astype(np.float64), class_id=det.class_id.astype(int),
                                  tracker_id=det.track_id.astype(int))
        for zone in self.zones.values():
            zone.trigger(rows)

    def counts(self) -> dict[str, tuple[int, int]]:
        return {name: (z.in_count, z.out_count) for name, z in self.zones.items()}


class _ObjectCounters:
    """ultralytics' ObjectCounter, one per line, fed our tracks through its own counting loop."""

    def __init__(self, lines: list[Line]) -> None:
        from ultralytics.solutions import ObjectCounter
        from ultralytics.utils import LOGGER

        from stages.models.ultralytics import resolve_weights

        LOGGER.disabled = True  # it logs its settings at every construction
        self.counters = {}
        for name, a, b in lines:
            counter = ObjectCounter(model=str(resolve_weights("yolov8n")), region=[a, b], show=False, verbose=False)
            counter.initialize_region()
            self.counters[name] = counter

    def update(self, det: Detections) -> None:
        import torch

        boxes = _bottom_centred(det.xyxy)
        for counter in self.counters.values():
            for box, tid, cls in zip(boxes, det.track_id.tolist(), det.class_id.tolist(), strict=True):
                counter.store_tracking_history(tid, torch.tensor(box))
                history = counter.track_history[tid]
                prev = history[-2] if len(history) > 1 else None
                counter.count_objects(history[-1], tid, prev, cls)

    def counts(self) -> dict[str, tuple[int, int]]:
        return {name: (c.in_count, c.out_count) for name, c in self.counters.items()}


def _peer_counts(peer: Any, tracks: Tracks, lines: list[Line], mapping: dict[str, tuple[str, str]]) -> dict:
    for _, det in tracks:
        peer.update(det)
    raw = peer.counts()
    return {name: {ours: raw[name][0 if theirs == "first" else 1] for ours, theirs in mapping[name].items()}
            for name, _, _ in lines}


def _synthetic_crossing(line: Line, to_right: bool) -> Tracks:
    """A track walking across the middle of `line` towards its right-hand side (or left), 30 frames."""
    _, a, b = line
    mid = np.array([(a[0] + b[0]) / 2, (a[1] + b[1]) / 2])
    normal = np.array([-(b[1] - a[1]), b[0] - a[0]], np.float64)
    normal /= np.hypot(*normal)
    if not to_right:
        normal = -normal
    out: Tracks = []
    for k in range(30):
        x, y = mid + normal * (-60 + 4 * k)
        out.append((k + 1, Detections(xyxy=np.array([[x - 10, y - 40, x + 10, y]], np.float32),
                                      score=np.ones(1, np.float32), class_id=np.zeros(1, np.int32),
                                      track_id=np.array([1], np.int64))))
    return out


def direction_mapping(make_peer: Any, lines: list[Line]) -> dict[str, dict[str, str]]:
    """For each line, which of a peer's (in, out) counters an Argus `in` and `out` crossing moves."""
    mapping: dict[str, dict[str, str]] = {}
    for line in lines:
        mapping[line[0]] = {}
        for ours, to_right in (("in", True), ("out", False)):
            peer = make_peer([line])
            for _, det in _synthetic_crossing(line, to_right):
                peer.update(det)
            first, second = peer.counts()[line[0]]
            if first + second != 1:
                raise RuntimeError(f"bench zones: the peer counted {first + second} synthetic crossings, not 1")
            mapping[line[0]][ours] = "first" if first else "second"
    return mapping


def end_to_end_tracks(seq_dir: Path, fps: float, lines: list[Line]) -> tuple[dict, Tracks]:
    """The default Argus pipeline plus a zones stage on the sequence's frames: its counts (from the
    events it wrote) and its tracked people per frame (for the peers)."""
    from pipeline import Pipeline
    from pipeline.config import load_config
    from pipeline.registry import default_registry

    stages = [*default_registry().default_stages, {
        "type": "zones", "input": "objects", "anchor": "bottom_center",
        "lines": [{"id": name, "points": [list(a), list(b)], "classes": ["person"]} for name, a, b in lines]}]
    with tempfile.TemporaryDirectory() as out:
        config = load_config(text="{}", replace={
            "sources": [{"id": "seq", "uri": str(seq_dir / "img1"), "fps": fps}], "stages": stages,
            "sinks": [], "output_dir": out, "runner": {"progress": False}})
        pipeline = Pipeline(config)
        tracks: Tracks = []
        for packet in pipeline.packets():
            det = packet.detections
            names = det.column("class_name")
            keep = (det.track_id >= 0) & (names == "person") if names is not None else det.track_id >= 0
            tracks.append((packet.frame.index + 1, det[np.flatnonzero(keep)]))
        counts = pipeline.stats()["counts"]["zones"]["sources"]["seq"]["lines"]
    return {name: {d: sum(counts[name][d].values()) for d in DIRECTIONS} for name, _, _ in lines}, tracks


def _errors(counts: dict, truth: dict) -> dict:
    return {name: {d: counts[name][d] - truth[name][d] for d in DIRECTIONS} for name in truth}


def _compare(tracks: Tracks, lines: list[Line], fps: float, size: tuple[int, int], truth: dict,
             mappings: dict, argus: dict | None = None) -> dict[str, Any]:
    counts = {"argus": argus or argus_counts(tracks, lines, fps, size),
              "supervision_linezone": _peer_counts(_LineZones(lines), tracks, lines, mappings["supervision_linezone"]),
              "ultralytics_objectcounter": _peer_counts(_ObjectCounters(lines), tracks, lines,
                                                        mappings["ultralytics_objectcounter"])}
    return {"counts": counts, "errors": {name: _errors(c, truth) for name, c in counts.items()}}


def bench_zones(data_dir: Path, end_to_end: bool = True) -> dict[str, Any]:
    """See the module doc. Sequences without gt/gt.txt are skipped (listed with the reason)."""
    result: dict[str, Any] = {"sequences": {}, "skipped": {}}
    totals: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for seq_dir in list_sequences(data_dir):
        if not (seq_dir / "gt" / "gt.txt").is_file():
            result["skipped"][seq_dir.name] = "no gt/gt.txt"
            continue
        info = read_seqinfo(seq_dir / "seqinfo.ini")
        seq = load_sequence(seq_dir)
        size = (seq.width or int(info.get("imWidth", 0)), seq.height or int(info.get("imHeight", 0)))
        lines = middle_lines(*size)
        gt = gt_tracks(seq_dir, seq.length)
        truth = true_crossings(gt, lines)
        mappings = {"supervision_linezone": direction_mapping(_LineZones, lines),
                    "ultralytics_objectcounter": direction_mapping(_ObjectCounters, lines)}
        entry: dict[str, Any] = {"frames": seq.length, "fps": seq.frame_rate, "size": list(size),
                                 "lines": {name: [list(a), list(b)] for name, a, b in lines}, "truth": truth,
                                 "gt_tracks": _compare(gt, lines, seq.frame_rate, size, truth, mappings),
                                 "argus_tracker": _compare([(f, d) for f, d in run_sequence(seq, "argus")], lines,
                                                           seq.frame_rate, size, truth, mappings)}
        if end_to_end and (seq_dir / "img1").is_dir():
            e2e_counts, e2e_tracks = end_to_end_tracks(seq_dir, seq.frame_rate, lines)
            entry["end_to_end"] = _compare(e2e_tracks, lines, seq.frame_rate, size, truth, mappings, argus=e2e_counts)
        result["sequences"][seq_dir.name] = entry
        for source in ("gt_tracks", "argus_tracker", "end_to_end"):
            for method, errors in entry.get(source, {}).get("errors", {}).items():
                cells = [e for per_line in errors.values() for e in per_line.values()]
                total = totals[f"{source}/{method}"]
                total["abs_error"] += sum(abs(e) for e in cells)
                total["within_1"] += sum(abs(e) <= 1 for e in cells)
                total["cells"] += len(cells)
    result["summary"] = {k: dict(v) for k, v in totals.items()}
    return result
