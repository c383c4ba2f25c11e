"""The driver's book of streams and actors: who serves what, and each stream's checkpoint."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from pipeline.config import SourceConfig
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

    @property
    def live(self) -> bool:
        return self.lost_at is None and self.incarnation is not None

    def where(self) -> dict[str, Any]:
        """Actor and node, for events and stats."""
        return {"actor": self.info.get("actor_id", "")[:12], "node": self.info.get("node_id", "")[:12],
                "node_ip": self.info.get("node_ip", ""), "pid": self.info.get("pid")}
