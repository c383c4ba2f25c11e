"""The interface every output implements, and helpers shared by file sinks."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from pipeline.types import Event, Packet
from stages.sources.base import StreamStart


class Sink(Protocol):
    """An output. Called from the runner's thread only; must leave complete files after `close()`
    (which the runner always calls: on success, error, Ctrl-C and SIGTERM)."""

    name: str

    def start_source(self, start: StreamStart) -> None: ...

    def write(self, packet: Packet) -> None: ...

    def write_events(self, events: Sequence[Event]) -> None: ...

    def end_source(self, source_id: str) -> None: ...

    def close(self) -> None: ...


def output_path(output_dir: Path, template: str, source_id: str = "") -> Path:
    """`output_dir / template` with `{source_id}` filled (a `/` in the id becomes a sub-folder)."""
    path = output_dir / template.format(source_id=source_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


class SinkBase:
    """No-op defaults so each sink implements only what it needs."""

    name = "sink"

    def start_source(self, start: StreamStart) -> None:
        pass

    def write(self, packet: Packet) -> None:
        pass

    def write_events(self, events: Sequence[Event]) -> None:
        pass

    def end_source(self, source_id: str) -> None:
        pass

    def close(self) -> None:
        pass
