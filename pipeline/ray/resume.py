"""A source that resumes at a checkpointed frame when its stream restarts on a new actor.

Files decode and discard the frames before it: frame numbers (and pts) continue where the driver's
merged outputs stopped. Live sources (cameras, RTSP) start again from "now", their frame numbers
shifted to continue after the checkpoint (what happened during the gap is not seen).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator

from pipeline.config import SourceConfig
from pipeline.source import Source, SourceItem
from pipeline.types import Frame


class ResumingSource:
    """Wraps a source; a file's frames numbered below `start` are skipped, a live source's frames are
    renumbered from `start` (markers pass through)."""

    def __init__(self, inner: Source, start: int) -> None:
        self.inner, self.start = inner, start
        self.id, self.live = inner.id, inner.live

    def open(self) -> None:
        self.inner.open()

    def items(self, stop: threading.Event) -> Iterator[SourceItem]:
        for item in self.inner.items(stop):
            if isinstance(item, Frame):
                if self.live:
                    item = dataclasses.replace(item, index=item.index + self.start)
                elif item.index < self.start:
                    continue
            yield item

    def total_frames(self) -> int | None:
        total = self.inner.total_frames()
        return None if total is None or self.live else max(0, total - self.start)

    def close(self) -> None:
        self.inner.close()


def resuming_factory(make: Callable[[SourceConfig], Source],
                     start_of: Callable[[str], int]) -> Callable[[SourceConfig], Source]:
    """A source factory whose sources resume at `start_of(source id)` (0: a fresh start)."""

    def build(config: SourceConfig) -> Source:
        source = make(config)
        start = start_of(config.id)
        return ResumingSource(source, start) if start > 0 else source

    return build
