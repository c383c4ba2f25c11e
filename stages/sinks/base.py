"""The interface every output implements, and helpers shared by file sinks."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from pipeline.sink import Sink
from pipeline.source import StreamStart
from pipeline.types import Event, Packet

__all__ = ["LineFile", "Sink", "SinkBase", "output_path"]


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


class LineFile:
    """A text file written in whole lines: each `write_lines` is one unbuffered system call, and a
    write that fails part-way (disk full, file-size limit) is cut back to the last whole line before
    the error is raised, so readers never see half a line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        self._size = 0

    def write_lines(self, text: str) -> None:
        if self._fd is None or not text:
            return
        encoded = text.encode("utf-8")
        data = memoryview(encoded)
        try:
            while data:  # a short write is retried: the retry raises the real error (ENOSPC, EFBIG)
                data = data[os.write(self._fd, data):]
        except OSError as exc:
            os.ftruncate(self._fd, self._size)
            raise OSError(exc.errno, f"{exc.strerror}: {self.path}") from None
        self._size += len(encoded)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
