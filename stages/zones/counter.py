"""Per-track state machines for lines and zones, and the counts they give (one source's worth).

Lines. A track's confirmed side of a line is the side of its first position (a new id, after an id
switch, has crossed nothing). When its anchor moves to the other side, a crossing is pending; it
counts once the track has stayed on the new side for `min_frames` observations in a row, and only if
the anchor's path went through the segment (walking around an end of the line moves the confirmed
side without a count). Going back before that cancels it, so a box jittering on the line counts at
most once. A track counts at most once per line and direction within `recount_s`.

Zones. A track enters a zone after `min_frames` observations in a row inside it, and exits after
`min_frames` in a row outside, or when it ends (its last position). Its stay starts at the first of
the frames inside and ends at the first frame outside (or its last frame seen): `dwell_s` is the
difference. `zone_loitering` comes once per stay, on the first observation `loiter_s` after it began.

Nothing here knows frames or events: `observe` returns `Happening`s that the stage turns into events.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from stages.zones.config import LineConfig, ZoneConfig
from stages.zones.geometry import Point, segments_intersect, side

IN, OUT = "in", "out"


@dataclass(frozen=True)
class Happening:
    """Something a track did: `line_crossed` (with direction), `zone_entered`, `zone_exited` (with
    dwell_s) or `zone_loitering` (with dwell_s)."""

    kind: str
    name: str  # the line or zone id
    track_id: int
    pts_s: float
    class_name: str | None = None
    direction: str | None = None
    dwell_s: float | None = None


@dataclass
class _LineState:
    side: int = 0  # confirmed side: +1 right-hand (`in` side), -1 left-hand, 0 not known yet
    pending: int = 0  # the side a crossing is pending to, 0 when none
    pending_frames: int = 0
    via_segment: bool = False
    last_count: dict[str, float] = field(default_factory=dict)  # direction -> pts of its last count


@dataclass
class _ZoneState:
    inside: bool = False
    since: float = 0.0  # pts of the first frame of the stay
    run: int = 0  # observations in a row on the other side of the border than `inside`
    run_since: float = 0.0
    loitered: bool = False


@dataclass
class _Track:
    point: Point | None = None
    pts: float = 0.0
    class_name: str | None = None
    lines: dict[str, _LineState] = field(default_factory=dict)
    zones: dict[str, _ZoneState] = field(default_factory=dict)


@dataclass
class Counts:
    """Counts of one source: line -> direction -> class -> crossings; zone -> entries (total)."""

    lines: dict[str, dict[str, Counter[str]]] = field(default_factory=dict)
    zone_totals: dict[str, int] = field(default_factory=dict)


def _wants(classes: list[str] | None, class_name: str | None) -> bool:
    return classes is None or class_name in classes


class SourceCounter:
    """Lines, zones, their per-track states and counts for one source."""

    def __init__(self, lines: Iterable[LineConfig], zones: Iterable[ZoneConfig]) -> None:
        self.lines = {line.id: line for line in lines}
        self.zones = {zone.id: zone for zone in zones}
        self.tracks: dict[int, _Track] = {}
        self.counts = Counts()
        for line_id in self.lines:
            self.counts.lines[line_id] = {IN: Counter(), OUT: Counter()}
        for zone_id in self.zones:
            self.counts.zone_totals[zone_id] = 0

    def observe(self, track_id: int, point: Point, pts_s: float, class_name: str | None,
                inside: dict[str, bool], min_frames: int, recount_s: float) -> list[Happening]:
        """One observation of a confirmed track: its anchor `point` at `pts_s`, and for each zone
        whether the point is in it."""
        track = self.tracks.get(track_id)
        if track is None:
            track = self.tracks[track_id] = _Track()
        track.class_name = class_name
        out: list[Happening] = []
        for line in self.lines.values():
            if _wants(line.classes, class_name):
                out += self._line(line, track, track_id, point, pts_s, min_frames, recount_s)
        for zone in self.zones.values():
            if _wants(zone.classes, class_name):
                out += self._zone(zone, track, track_id, inside.get(zone.id, False), pts_s, min_frames)
        track.point, track.pts = point, pts_s
        return out

    def _line(self, line: LineConfig, track: _Track, track_id: int, point: Point, pts_s: float,
              min_frames: int, recount_s: float) -> list[Happening]:
        a, b = line.points
        s = side(a, b, point)
        state = track.lines.setdefault(line.id, _LineState())
        now = 1 if s > 0 else -1 if s < 0 else (state.pending or state.side)  # on the line: no change
        if state.side == 0 or track.point is None:
            state.side = now or state.side
            return []
        if now == state.side:
            state.pending, state.pending_frames, state.via_segment = 0, 0, False
            return []
        if state.pending != now:
            state.pending, state.pending_frames, state.via_segment = now, 0, False
        state.pending_frames += 1
        state.via_segment = state.via_segment or segments_intersect(track.point, point, a, b)
        if state.pending_frames < min_frames:
            return []
        state.side, via = now, state.via_segment
        state.pending, state.pending_frames, state.via_segment = 0, 0, False
        if not via:
            return []
        direction = IN if now > 0 else OUT
        last = state.last_count.get(direction)
        if last is not None and pts_s - last < recount_s:
            return []
        state.last_count[direction] = pts_s
        self.counts.lines[line.id][direction][track.class_name or "?"] += 1
        return [Happening("line_crossed", line.id, track_id, pts_s, track.class_name, direction=direction)]

    def _zone(self, zone: ZoneConfig, track: _Track, track_id: int, inside: bool, pts_s: float,
              min_frames: int) -> list[Happening]:
        state = track.zones.setdefault(zone.id, _ZoneState())
        out: list[Happening] = []
        if inside == state.inside:
            state.run = 0
        else:
            if state.run == 0:
                state.run_since = pts_s
            state.run += 1
            if state.run >= min_frames:
                state.run = 0
                if inside:
                    state.inside, state.since, state.loitered = True, state.run_since, False
                    self.counts.zone_totals[zone.id] += 1
                    out.append(Happening("zone_entered", zone.id, track_id, pts_s, track.class_name))
                else:
                    out.append(self._exit(zone.id, state, track, track_id, pts_s, state.run_since))
        if (state.inside and not state.loitered and zone.loiter_s is not None
                and pts_s - state.since >= zone.loiter_s):
            state.loitered = True
            out.append(Happening("zone_loitering", zone.id, track_id, pts_s, track.class_name,
                                 dwell_s=round(pts_s - state.since, 3)))
        return out

    @staticmethod
    def _exit(zone_id: str, state: _ZoneState, track: _Track, track_id: int, pts_s: float,
              left_at: float) -> Happening:
        state.inside = False
        return Happening("zone_exited", zone_id, track_id, pts_s, track.class_name,
                         dwell_s=round(max(left_at - state.since, 0.0), 3))

    def end_track(self, track_id: int) -> list[Happening]:
        """The track ended: it exits every zone it is in (its stay ends at its last frame seen, or at
        the first of its last frames outside); its state is dropped."""
        track = self.tracks.pop(track_id, None)
        if track is None:
            return []
        out = []
        for zone_id, state in track.zones.items():
            if state.inside and zone_id in self.zones:
                left_at = state.run_since if state.run else track.pts
                out.append(self._exit(zone_id, state, track, track_id, track.pts, left_at))
        return out

    def end_all(self) -> list[Happening]:
        """Every track ends (the source ended); counts are kept."""
        return [h for track_id in list(self.tracks) for h in self.end_track(track_id)]

    def current(self, zone_id: str) -> int:
        """Tracks in the zone now."""
        return sum(1 for t in self.tracks.values() if (z := t.zones.get(zone_id)) is not None and z.inside)

    def reconfigure(self, lines: Iterable[LineConfig], zones: Iterable[ZoneConfig]) -> None:
        """New lines and zones: those unchanged (same id and definition) keep their counts and per-track
        states; changed or new ones start from zero; removed ones are forgotten."""
        new_lines = {line.id: line for line in lines}
        new_zones = {zone.id: zone for zone in zones}
        keep_lines = {i for i, line in new_lines.items() if self.lines.get(i) == line}
        keep_zones = {i for i, zone in new_zones.items() if self.zones.get(i) == zone}
        self.counts.lines = {i: self.counts.lines[i] if i in keep_lines else {IN: Counter(), OUT: Counter()}
                             for i in new_lines}
        self.counts.zone_totals = {i: self.counts.zone_totals[i] if i in keep_zones else 0 for i in new_zones}
        for track in self.tracks.values():
            track.lines = {i: s for i, s in track.lines.items() if i in keep_lines}
            track.zones = {i: s for i, s in track.zones.items() if i in keep_zones}
        self.lines, self.zones = new_lines, new_zones

    def snapshot(self) -> dict:
        """JSON-ready counts: lines -> direction -> class -> n; zones -> current and total."""
        return {"lines": {i: {d: dict(c) for d, c in dirs.items()} for i, dirs in self.counts.lines.items()},
                "zones": {i: {"current": self.current(i), "total": self.counts.zone_totals[i]}
                          for i in self.zones}}
