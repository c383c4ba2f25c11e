"""The driver's book of streams and actors: who serves what, and each stream's checkpoint."""

from __future__ import annotations

import statistics
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from pipeline.config import SourceConfig
from pipeline.ray.settings import RaySettings
from pipeline.source import StreamStart
from pipeline.types import Event, EventType


@dataclass
class Stream:
    """One source as the driver knows it. `last_index` (the last frame merged) and `next_track_id`
    are its checkpoint: a resumed stream starts at frame `last_index + 1` with track ids from
    `next_track_id`, writing file segment `segment`."""

    config: SourceConfig
    group: int
    state: str = "starting"  # starting / running / lost / removing / ended / failed / removed
    last_index: int = -1
    next_track_id: int = 1
    segment: int = 0
    opened: bool = False
    lost_at: float | None = None
    lost_reason: str = ""
    open_tracks: dict[int, tuple[float | None, float | None, int]] = field(default_factory=dict)
    start: StreamStart | None = None  # what the driver's sinks were told when the stream opened

    def entry(self) -> dict[str, Any]:
        """What an actor needs to (re)start this stream."""
        return {"source": self.config.model_dump(mode="json"), "start": self.last_index + 1,
                "next_track_id": self.next_track_id, "segment": self.segment}

    def lose(self, reason: str, where: dict[str, Any]) -> list[Event]:
        """The stream's actor is gone: its open tracks end, then `stream_lost`; files go on in a new segment."""
        source_id = self.config.id
        events = [Event(EventType.TRACK_ENDED, source_id, last, frame, track_id,
                        payload={"duration_s": round((last or 0.0) - (first or 0.0), 3), "reason": "actor_lost"})
                  for track_id, (first, last, frame) in sorted(self.open_tracks.items())]
        self.open_tracks.clear()
        self.state, self.lost_at, self.lost_reason = "lost", time.monotonic(), reason
        self.segment += 1
        events.append(Event(EventType.STREAM_LOST, source_id, payload={"reason": reason, **where}))
        return events


ROUND_TRIPS_KEPT = 20
POLL_WAIT_S = 0.2  # an actor's poll waits this long for results before it answers empty


@dataclass
class Group:
    """One actor (a Ray actor handle that Ray restarts) and the streams the driver gave it."""

    index: int
    handle: Any
    streams: set[str] = field(default_factory=set)
    incarnation: str | None = None
    cursor: int = 0
    info: dict[str, Any] = field(default_factory=dict)
    lost_at: float | None = None  # no answer (or a restart) since then
    inflight: Any = None  # the pending poll
    sent_at: float = 0.0
    retry_at: float = 0.0
    assigning: list[Any] = field(default_factory=list)
    stop_ref: Any = None
    finished: bool = False
    held: list[Event] = field(default_factory=list)  # stream ends waiting for the actor's next answer
    round_trips: deque[float] = field(default_factory=lambda: deque(maxlen=ROUND_TRIPS_KEPT))

    @property
    def live(self) -> bool:
        return self.lost_at is None and self.incarnation is not None

    def answered(self, now: float) -> None:
        """A poll came back: its round trip (sent to answered) joins the recent ones."""
        self.round_trips.append(max(0.0, now - self.sent_at))

    def typical_round_trip(self, poll_wait_s: float = POLL_WAIT_S) -> float:
        """The median of the recent poll round trips (`poll_wait_s`, what an idle actor takes, before any)."""
        return max(statistics.median(self.round_trips), poll_wait_s) if self.round_trips else poll_wait_s

    def lost_limit(self, settings: RaySettings, poll_wait_s: float = POLL_WAIT_S) -> float:
        """Seconds a poll may go unanswered before the actor counts as lost: `lost_after_polls` of its
        typical recent round trips, at least `lost_after_min_s`. A loaded machine answers slower and
        the limit grows with it; one stalled poll among quick ones does not move it."""
        return max(settings.lost_after_min_s, settings.lost_after_polls * self.typical_round_trip(poll_wait_s))

    def where(self) -> dict[str, Any]:
        """Actor and node, for events and stats."""
        return {"actor": self.info.get("actor_id", "")[:12], "node": self.info.get("node_id", "")[:12],
                "node_ip": self.info.get("node_ip", ""), "pid": self.info.get("pid")}
