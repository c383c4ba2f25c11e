"""JSON Lines sinks: one object per frame (detections) or per event. Every line is flushed whole."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import Field

from pipeline.detection_sets import in_sets
from pipeline.stage import StageConfig
from pipeline.types import Event, Packet
from stages.sinks.base import LineFile, SinkBase, output_path


class DetectionsSinkConfig(StageConfig):
    """Per-frame results as JSON Lines: source, frame, pts_s and every detection
    (box, score, class_id, track_id, keypoints)."""

    type: Literal["detections"] = "detections"
    path: str = Field("detections.jsonl", description="File under output_dir ({source_id} allowed).")
    sets: list[str] | None = Field(None, description="Detection sets written (e.g. [people]); null: every row, "
                                   "each naming its set under `set`.")


class EventsSinkConfig(StageConfig):
    """Events (stream opened/ended/error, track started/ended, ...) as JSON Lines, or into a SQLite
    database when `path` ends in .db, .sqlite or .sqlite3 (schema in docs/guides/sinks.md)."""

    type: Literal["events"] = "events"
    path: str = Field("events.jsonl", description="File under output_dir: .jsonl (JSON Lines, rewritten each run) "
                      "or .db/.sqlite/.sqlite3 (SQLite in WAL mode, rows appended).")
    commit_every: int = Field(200, ge=1, description="SQLite only: commit after this many events.")
    commit_ms: float = Field(500.0, gt=0, description="SQLite only: commit pending events at least this often.")


class _JsonLinesWriter(SinkBase):
    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = LineFile(path)

    def _line(self, obj: dict) -> None:
        self._file.write_lines(json.dumps(obj, separators=(",", ":")) + "\n")

    def close(self) -> None:
        self._file.close()


class DetectionsSink(_JsonLinesWriter):
    name = "detections"

    def __init__(self, config: DetectionsSinkConfig, output_dir: Path) -> None:
        super().__init__(output_path(output_dir, config.path))
        self.sets = config.sets

    def write(self, packet: Packet) -> None:
        frame = packet.frame
        self._line({"source": frame.source_id, "frame": frame.index, "pts_s": round(frame.pts_s, 4),
                    "width": frame.width, "height": frame.height,
                    "detections": in_sets(packet.detections, self.sets).to_records()})


class EventsSink(_JsonLinesWriter):
    name = "events"

    def __init__(self, config: EventsSinkConfig, output_dir: Path) -> None:
        super().__init__(output_path(output_dir, config.path))

    def write_events(self, events: Sequence[Event]) -> None:
        for event in events:
            self._line(event.to_json())
