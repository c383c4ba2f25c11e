"""The `zones` stage: line crossings, zone stays and their counts, per source, over tracked rows.

Per packet: the anchors of the rows it watches (its `input:` set, else every row), which zones each
anchor is in (the rows' `zones` column: zone ids, raw geometry), then each confirmed track's
observation through its source's `SourceCounter` (counter.py), whose happenings become events with
the row's class, identity and action. A `track_ended` event (the tracker's lost horizon passed) or
the source's end closes the track's stays (`zone_exited`). Unconfirmed rows (track id -1) never count.
`min_frames` defaults to about 0.3 s at the stream's frame rate, estimated from its timestamps.

Counts (per line x direction x class; per zone current and total) go to `stats()` (`counts`) and
Prometheus (`metric_samples`); every packet carries the lines, zones and counts as of its frame in
`packet.overlays[<stage id>]` for the `zones` annotator. Hot reload (`reconfigure`) keeps the counts
and per-track states of every line and zone whose definition did not change.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipeline.detection_sets import rows_in
from pipeline.stage import MetricSample
from pipeline.types import Event, EventType, Packet
from stages.zones.config import MIN_FRAMES_S, ZonesConfig
from stages.zones.counter import Happening, SourceCounter
from stages.zones.geometry import anchors, outside_frame, points_in_polygon

log = logging.getLogger("argus")
FPS_FRAMES = 10  # frames whose timestamps give a source's frame rate
OVERLAY_KIND = "zones"


@dataclass
class _Source:
    counter: SourceCounter
    first_pts: float | None = None
    frames: int = 0
    fps: float = 25.0  # until two frames are seen (no crossing can happen before)
    warned: bool = False
    pts: list[float] = field(default_factory=list)


class ZonesStage:
    """See the module doc. Keeps per-source state keyed by source id; never starts threads."""

    name = "zones"

    def __init__(self, config: ZonesConfig) -> None:
        self.config = config
        self._sources: dict[str, _Source] = {}
        self._published: dict[str, Any] = {"sources": {}}

    @property
    def stage_id(self) -> str:
        return self.config.id or self.config.type

    def process(self, batch: Sequence[Packet]) -> list[Packet]:
        for packet in batch:
            if self.config.sources is None or packet.frame.source_id in self.config.sources:
                self._packet(packet)
        self._publish()
        return list(batch)

    def _source(self, packet: Packet) -> _Source:
        frame = packet.frame
        state = self._sources.get(frame.source_id)
        if state is None:
            state = self._sources[frame.source_id] = _Source(SourceCounter(self.config.lines, self.config.zones))
        if not state.warned:
            state.warned = True
            self._warn_outside(frame.source_id, frame.width, frame.height)
        if len(state.pts) < FPS_FRAMES:
            state.pts.append(frame.pts_s)
            gaps = np.diff(state.pts)
            gaps = gaps[gaps > 0]
            if len(gaps):
                state.fps = float(min(max(1.0 / np.median(gaps), 1.0), 1000.0))
        return state

    def min_frames(self, fps: float) -> int:
        """Frames a change must hold: the config's, else about MIN_FRAMES_S at `fps` (at least 1)."""
        if self.config.min_frames is not None:
            return self.config.min_frames
        return max(1, math.floor(MIN_FRAMES_S * fps + 0.5))

    def _packet(self, packet: Packet) -> None:
        frame, det = packet.frame, packet.detections
        state = self._source(packet)
        counter = state.counter
        n = len(det)
        watched = np.arange(n) if self.config.input is None else rows_in(det, self.config.input)
        points = anchors(det.xyxy[watched], None if det.keypoints is None else det.keypoints[watched],
                         self.config.anchor)
        names = _class_names(packet, watched)
        inside = {zone.id: points_in_polygon(points, np.asarray(zone.polygon)) & _class_mask(zone.classes, names)
                  for zone in self.config.zones}
        column = np.empty(n, object)
        for i in range(n):
            column[i] = []
        for k, row in enumerate(watched.tolist()):
            column[row] = [zone_id for zone_id, flags in inside.items() if flags[k]]
        happened: list[tuple[Happening, int | None, int | None]] = []  # (what, its row, frame index)
        if det.track_id is not None:
            min_frames = self.min_frames(state.fps)
            for k, row in enumerate(watched.tolist()):
                track_id = int(det.track_id[row])
                if track_id < 0:
                    continue
                point = (float(points[k, 0]), float(points[k, 1]))
                flags = {zone_id: bool(f[k]) for zone_id, f in inside.items()}
                happened += [(h, row, frame.index) for h in counter.observe(
                    track_id, point, frame.pts_s, names[k], flags, min_frames, self.config.recount_s)]
        for event in list(packet.events):
            if event.type == EventType.TRACK_ENDED and event.track_id is not None:
                happened += [(h, None, event.frame_index) for h in counter.end_track(event.track_id)]
        for h, row, index in happened:
            packet.events.append(self._event(h, frame.source_id, index, det, row))
        packet.detections = det.with_columns(zones=column)
        packet.overlays[self.stage_id] = self._overlay(counter)

    @staticmethod
    def _event(h: Happening, source_id: str, frame_index: int | None, det: Any, row: int | None) -> Event:
        """The event of a happening, with the row's identity and action where it carries them."""
        payload: dict[str, Any] = {"line" if h.kind == "line_crossed" else "zone": h.name}
        if h.direction is not None:
            payload["direction"] = h.direction
        payload["class_name"] = h.class_name
        if row is not None:
            for key in ("identity", "action"):
                values = det.column(key)
                value = None if values is None else values[row]
                if isinstance(value, str) and value:
                    payload[key] = value
        if h.dwell_s is not None:
            payload["dwell_s"] = h.dwell_s
        return Event(h.kind, source_id, h.pts_s, frame_index, h.track_id, payload=payload)

    def _overlay(self, counter: SourceCounter) -> dict[str, Any]:
        counts = counter.snapshot()
        return {"kind": OVERLAY_KIND,
                "lines": [{"id": line.id, "points": [list(p) for p in line.points],
                           "in": sum(counts["lines"][line.id]["in"].values()),
                           "out": sum(counts["lines"][line.id]["out"].values())} for line in self.config.lines],
                "zones": [{"id": zone.id, "polygon": [list(p) for p in zone.polygon], **counts["zones"][zone.id]}
                          for zone in self.config.zones]}

    def _warn_outside(self, source_id: str, width: int, height: int) -> None:
        for kind, item_id, points in ([("line", line.id, line.points) for line in self.config.lines]
                                      + [("zone", zone.id, zone.polygon) for zone in self.config.zones]):
            outside = outside_frame(points, width, height)
            if outside:
                shown = ", ".join(f"[{x:g}, {y:g}]" for x, y in outside)
                log.warning("stage '%s': %s '%s' has points outside the %dx%d frame of source '%s': %s",
                            self.stage_id, kind, item_id, width, height, source_id, shown)

    def _publish(self) -> None:
        """Swap in a fresh counts snapshot (read by stats() and Prometheus from other threads)."""
        self._published = {"sources": {sid: s.counter.snapshot() for sid, s in list(self._sources.items())}}

    def counts(self) -> dict[str, Any]:
        """Per source: lines -> direction (in/out) -> class -> crossings; zones -> current and total."""
        return self._published

    def metric_samples(self) -> list[MetricSample]:
        samples = []
        for source_id, counts in self._published["sources"].items():
            for line_id, directions in counts["lines"].items():
                for direction, by_class in directions.items():
                    for class_name, n in by_class.items():
                        samples.append(MetricSample(
                            "argus_line_crossings", "Tracks that crossed a line, per direction and class",
                            {"source": source_id, "line": line_id, "direction": direction, "class": class_name},
                            n, "counter"))
            for zone_id, zone in counts["zones"].items():
                labels = {"source": source_id, "zone": zone_id}
                samples.append(MetricSample("argus_zone_current", "Tracks in a zone now", labels, zone["current"]))
                samples.append(MetricSample("argus_zone_entries", "Tracks that entered a zone", labels,
                                            zone["total"], "counter"))
        return samples

    def reconfigure(self, config: ZonesConfig) -> bool:
        """Any change in place: lines and zones whose definition did not change keep their counts and the
        tracks' states on them; new or changed ones start from zero."""
        if not isinstance(config, ZonesConfig):
            return False
        self.config = config
        for state in self._sources.values():
            state.counter.reconfigure(config.lines, config.zones)
            state.warned = False
        self._publish()
        return True

    def end_source(self, source_id: str) -> list[Event]:
        """Every track of the source exits its zones; the source's counts stay in stats()."""
        state = self._sources.get(source_id)
        if state is None:
            return []
        counter = state.counter
        events = [self._event(h, source_id, None, None, None) for h in counter.end_all()]
        state.pts.clear()
        state.warned = False
        self._publish()
        return events

    def close(self) -> None:
        for state in self._sources.values():
            state.counter.tracks.clear()


def _class_names(packet: Packet, rows: np.ndarray) -> list[str | None]:
    """Each row's class name: its `class_name` column, else the model's class names, else the id."""
    det = packet.detections
    column = det.column("class_name")
    if column is not None:
        return [None if column[r] is None else str(column[r]) for r in rows.tolist()]
    names = packet.detector.class_names if packet.detector is not None else {}
    return [names.get(int(det.class_id[r]), str(int(det.class_id[r]))) for r in rows.tolist()]


def _class_mask(classes: list[str] | None, names: list[str | None]) -> np.ndarray:
    if classes is None:
        return np.ones(len(names), bool)
    return np.array([name in classes for name in names], bool)
