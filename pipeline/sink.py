"""The interface every output implements (sinks themselves live in `stages/sinks/`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from pipeline.source import StreamStart
from pipeline.types import Event, Packet


class Sink(Protocol):
    """An output. Called from the pipeline's worker thread only; must leave complete files after
    `close()` (which the pipeline always calls: on success, error, Ctrl-C, SIGTERM, and when a
    hot reload removes or replaces it). A sink that raises is closed and reported; the others go on.

    Optional hooks, found by name: `take_events() -> list[Event]` (events the sink made, e.g.
    `clip_saved`; `SinkSet` delivers them), `stats() -> dict` (JSON-ready counts shown under the
    sink in `Pipeline.stats()`; any thread), `outbox_size` (events waiting for delivery)."""

    name: str

    def start_source(self, start: StreamStart) -> None: ...

    def write(self, packet: Packet) -> None: ...

    def write_events(self, events: Sequence[Event]) -> None: ...

    def end_source(self, source_id: str) -> None: ...

    def close(self) -> None: ...
