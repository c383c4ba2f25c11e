"""The driver's merge: actors' results into the configured sinks and subscribers, each frame once and
each event id once, while keeping every stream's checkpoint (last frame, next track id, open tracks)."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from pipeline.ray.state import Stream
from pipeline.ray.wire import FrameResult
from pipeline.sink_set import SinkSet, SinkSlot
from pipeline.source import StreamStart
from pipeline.stats import RunStats
from pipeline.subscription import Subscription
from pipeline.types import Event, EventType, Packet

log = logging.getLogger("argus")
SEEN_MAX = 200_000  # recent event ids remembered (an id is never written twice)


class Merger:
    """Called from the driver under its lock; `emit` may come from any thread."""

    def __init__(self, sinks: SinkSet, stats: RunStats, stopping: threading.Event) -> None:
        self.sinks, self.stats, self.stopping = sinks, stats, stopping
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.RLock()
        self.packet_subscribers: list[Subscription[Packet]] = []
        self.event_subscribers: list[Subscription[Event]] = []
        self.on_frames: Callable[[int], None] | None = None

    def seen(self, event: Event) -> bool:
        return event.id in self._seen

    def opened(self, stream: Stream, event: Event, where: dict[str, Any]) -> None:
        """`stream_opened` from an actor: the first one passes (driver sinks start the stream); after a
        loss it becomes `stream_recovered` with the gap; a repeat otherwise (a move) is dropped."""
        source_id = stream.config.id
        if not stream.opened:
            p = event.payload
            stream.start = StreamStart(source_id, p.get("uri", ""), p.get("width", 0), p.get("height", 0),
                                       p.get("fps", 0.0), p.get("frames"))
            self.sinks.start_source(stream.start)
            stream.opened = True
            if stream.state != "lost":
                self.emit([event])
        if stream.state == "lost":
            gap = time.monotonic() - (stream.lost_at or time.monotonic())
            self.emit([Event(EventType.STREAM_RECOVERED, source_id, payload={
                "gap_s": round(gap, 3), "attempts": 1, "resumed_at_frame": stream.last_index + 1,
                "segment": stream.segment, **where})])
        stream.state = "running"
        self.stats.stream_state[source_id] = "running"

    def track(self, stream: Stream, event: Event) -> None:
        """Any other event: passed on; track starts and ends kept to end them on a loss."""
        if event.type == EventType.TRACK_STARTED and event.track_id is not None:
            stream.open_tracks[event.track_id] = (event.pts_s, event.pts_s, event.frame_index or 0)
        elif event.type == EventType.TRACK_ENDED and event.track_id is not None:
            stream.open_tracks.pop(event.track_id, None)
        self.emit([event])

    def end(self, stream: Stream, event: Event) -> None:
        """A stream ended on its actor (its file ended, it failed, it was removed or stopped)."""
        source_id = stream.config.id
        stream.state = "failed" if event.type == EventType.STREAM_ERROR else "ended"
        self.stats.stream_state[source_id] = stream.state
        if event.type == EventType.STREAM_ERROR:
            self.stats.failed_sources[source_id] = str(event.payload.get("error", ""))
        stream.open_tracks.clear()
        if "frames" in event.payload:  # the actor counted its own share: report the whole stream's
            frames = self.stats.frames_per_source.get(source_id, 0)
            event = dataclasses.replace(event, payload={**event.payload, "frames": frames})
        self.emit([event])
        self.sinks.end_source(source_id)

    def frame(self, stream: Stream, result: FrameResult) -> bool:
        """One processed frame; False when it was merged already (processed twice around a fault)."""
        if result.index <= stream.last_index:
            return False
        stream.last_index = result.index
        detections = result.detections
        if detections.track_id is not None:
            for track_id in detections.track_id.tolist():
                if track_id >= 0:
                    stream.next_track_id = max(stream.next_track_id, track_id + 1)
                    if track_id in stream.open_tracks:
                        first = stream.open_tracks[track_id][0]
                        stream.open_tracks[track_id] = (first, result.pts_s, result.index)
        packet = result.packet()
        self.sinks.write(packet)
        self.stats.count_frame(stream.config.id)
        self.stats.frames += 1
        for name, ms in result.timings.items():
            self.stats.timing(name).add(ms / 1000.0, 1)
        # A stage that has timed earlier frames but not this one skipped it (a still frame under motion
        # gating: every stream's first frame runs every stage, so each stage is known by then).
        for name in self.stats.stages.keys() - result.timings.keys() - {"sinks"}:
            self.stats.stages[name].skipped += 1
        for subscription in list(self.packet_subscribers):
            subscription.put(packet, self.stopping)
        return True

    def emit(self, events: list[Event]) -> None:
        """Events to every sink and event subscriber, each id once."""
        with self._lock:
            fresh = [e for e in events if e.id not in self._seen]
            for event in fresh:
                self._seen[event.id] = None
            while len(self._seen) > SEEN_MAX:
                self._seen.popitem(last=False)
            self.sinks.events(fresh)
            for subscription in list(self.event_subscribers):
                for event in fresh:
                    subscription.put(event)

    def replace_sinks(self, slots: list[SinkSlot], fresh: list[SinkSlot], open_streams: list[StreamStart]) -> None:
        """A hot reload's swap: `slots` become the sinks; the `fresh` ones among them first see every
        open stream start. The caller closes the sinks left out."""
        with self._lock:
            for slot in fresh:
                for start in open_streams:
                    try:
                        slot.sink.start_source(start)
                    except Exception as exc:
                        log.error("sink '%s': start_source failed: %s", slot.id, exc)
            self.sinks.replace(slots)

    def close(self) -> None:
        """Close the sinks and end every subscription."""
        with self._lock:
            self.sinks.close_all()
        for subscription in [*self.packet_subscribers, *self.event_subscribers]:
            subscription.close()
