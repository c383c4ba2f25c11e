"""What a source yields (frames framed by stream markers) and the interface every source implements.

Sources themselves live in `stages/sources/`; the core only needs these types to run them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from pipeline.types import Frame


@dataclass(frozen=True, slots=True)
class StreamStart:
    """A stream opened: its size, nominal frame rate and frame count (None when unknown / live)."""

    source_id: str
    uri: str
    width: int
    height: int
    fps: float
    frames: int | None


@dataclass(frozen=True, slots=True)
class StreamEnd:
    """A stream ended: normally (`error` None) or because of a decode / read failure."""

    source_id: str
    error: str | None = None


@dataclass(frozen=True, slots=True)
class StreamLost:
    """A live stream stopped delivering (or never opened); the source is reconnecting."""

    source_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class StreamRecovered:
    """A lost live stream delivers again after `gap_s` seconds and `attempts` reconnection attempts."""

    source_id: str
    gap_s: float
    attempts: int


StreamMarker = StreamStart | StreamEnd | StreamLost | StreamRecovered
SourceItem = Frame | StreamMarker


class Source(Protocol):
    """One configured input. `open()` runs before any model loads (bad paths fail fast);
    `items()` runs in the pipeline's reader thread and must return soon after `stop` is set.

    A live source (`live = True`) that has `reconnect = True` may fail to open at start: the
    pipeline then lets `items()` retry in the background (StreamLost, then StreamRecovered).
    """

    id: str
    live: bool

    def open(self) -> None: ...

    def items(self, stop: threading.Event) -> Iterator[SourceItem]: ...

    def total_frames(self) -> int | None: ...

    def close(self) -> None: ...
