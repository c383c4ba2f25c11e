"""Per-stage timing and per-source counters, summarised at the end of a run and read live by `stats()`."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

FPS_WINDOW = 32  # frames over which a source's current FPS is measured


@dataclass
class StageTiming:
    """Accumulated wall time of one stage over the frames it processed."""

    seconds: float = 0.0
    frames: int = 0
    calls: int = 0
    skipped: int = 0  # still frames it did not run on (motion gating)

    def add(self, seconds: float, frames: int) -> None:
        self.seconds += seconds
        self.frames += frames
        self.calls += 1

    @property
    def ms_per_frame(self) -> float:
        return 1000.0 * self.seconds / self.frames if self.frames else 0.0

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0


@dataclass
class RunStats:
    """What a run did: frames, wall time, per-stage timings and per-source counters."""

    frames: int = 0
    wall_s: float = 0.0
    stages: dict[str, StageTiming] = field(default_factory=dict)
    frames_per_source: dict[str, int] = field(default_factory=dict)
    dropped_per_source: dict[str, int] = field(default_factory=dict)
    failed_sources: dict[str, str] = field(default_factory=dict)
    reconnects: dict[str, int] = field(default_factory=dict)
    outbox: dict[str, int] = field(default_factory=dict)  # sink id -> events left undelivered
    stage_errors: dict[str, int] = field(default_factory=dict)  # stage id -> batches it failed on
    failed_sinks: dict[str, str] = field(default_factory=dict)  # sink id -> why it was closed
    # sink id -> its failures, for a sink that contains its own (e.g. clips on a full disk) and goes on
    sink_errors: dict[str, str] = field(default_factory=dict)
    dropped_on_stop: int = 0  # queued frames left unprocessed when a stop outlasted shutdown_timeout_s
    stream_state: dict[str, str] = field(default_factory=dict)  # stream id -> starting/running/reconnecting/...
    recent: dict[str, deque[float]] = field(default_factory=dict)  # stream id -> last frames' times

    def timing(self, name: str) -> StageTiming:
        return self.stages.setdefault(name, StageTiming())

    def count_frame(self, source_id: str) -> None:
        self.frames_per_source[source_id] = self.frames_per_source.get(source_id, 0) + 1
        times = self.recent.get(source_id)
        if times is None:
            times = self.recent[source_id] = deque(maxlen=FPS_WINDOW)
        times.append(time.monotonic())

    def current_fps(self, source_id: str) -> float:
        """Frames per second over the stream's last frames (0 when it has stopped delivering)."""
        times = self.recent.get(source_id)
        if not times or len(times) < 2 or time.monotonic() - times[-1] > 5.0:
            return 0.0
        return (len(times) - 1) / max(times[-1] - times[0], 1e-9)

    def to_json(self) -> dict:
        return {
            "frames": self.frames,
            "wall_s": round(self.wall_s, 3),
            "fps": round(self.frames / self.wall_s, 2) if self.wall_s else 0.0,
            "stages": {name: {"ms_per_frame": round(t.ms_per_frame, 3), "fps": round(t.fps, 2),
                              "frames": t.frames, "skipped": t.skipped} for name, t in self.stages.items()},
            "frames_per_source": self.frames_per_source,
            "dropped_per_source": self.dropped_per_source,
            "failed_sources": self.failed_sources,
            "reconnects": self.reconnects,
            "outbox": self.outbox,
            "stage_errors": self.stage_errors,
            "failed_sinks": self.failed_sinks,
            "sink_errors": self.sink_errors,
            "dropped_on_stop": self.dropped_on_stop,
        }
