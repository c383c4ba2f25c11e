"""The `collect` sink: events of chosen types, one JSON object per line, in a file of its own."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import Field

from pipeline.source import StreamStart
from pipeline.stage import StageConfig
from pipeline.types import Event, Packet


class CollectConfig(StageConfig):
    """Events whose type is in `types` (all when empty) to `path` under output_dir."""

    type: Literal["collect"] = "collect"
    path: str = Field("collected.jsonl", description="File under output_dir.")
    types: list[str] = Field(default_factory=list, description="Event types to keep (empty: all).")


class CollectSink:
    """Implements the core's `Sink` protocol directly (no base class)."""

    name = "collect"

    def __init__(self, config: CollectConfig, output_dir: Path) -> None:
        self.types = set(config.types)
        self.frames = 0
        self._file = (output_dir / config.path).open("w")

    def start_source(self, start: StreamStart) -> None:
        pass

    def write(self, packet: Packet) -> None:
        self.frames += 1

    def write_events(self, events: Sequence[Event]) -> None:
        for event in events:
            if not self.types or event.type in self.types:
                self._file.write(json.dumps(event.to_json()) + "\n")
        self._file.flush()

    def end_source(self, source_id: str) -> None:
        pass

    def close(self) -> None:
        self._file.close()
