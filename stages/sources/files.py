"""A list or glob of video files, played one after another as separate streams."""

from __future__ import annotations

import glob
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from pipeline.errors import SourceOpenError
from pipeline.source_config import SourceConfig
from stages.sources.base import SourceItem, StreamEnd
from stages.sources.video import VideoSource


def is_glob(uri: str) -> bool:
    """Whether `uri` is a glob pattern (`*`, `?` or `[`)."""
    return any(ch in uri for ch in "*?[")


class FilesSourceConfig(SourceConfig):
    """A glob of video files ('clips/*.mp4', '**' recursive), played in name order as separate streams."""

    kind: Literal["files"] = "files"


class FileListSource:
    """Plays each file in turn; frames carry the source id `<id>/<file stem>`."""

    live = False

    def __init__(self, source_id: str, paths: list[Path]) -> None:
        self.id = source_id
        self.paths = paths
        stems = [p.stem for p in paths]
        self.children = [
            VideoSource(f"{source_id}/{p.stem}" if stems.count(p.stem) == 1 else f"{source_id}/{p.stem}-{i}",
                        str(p))
            for i, p in enumerate(paths)
        ]

    @classmethod
    def from_config(cls, config: FilesSourceConfig) -> FileListSource:
        return cls(config.id, [Path(p) for p in sorted(glob.glob(config.uri, recursive=True))])

    def open(self) -> None:
        if not self.paths:
            raise SourceOpenError(self.id, "(file list)", "no files matched")
        for child in self.children:
            child.open()

    def total_frames(self) -> int | None:
        counts = [child.total_frames() for child in self.children]
        return None if any(c is None for c in counts) else sum(c for c in counts if c is not None)

    def items(self, stop: threading.Event) -> Iterator[SourceItem]:
        for child in self.children:
            if stop.is_set():
                return
            try:
                yield from child.items(stop)
            except SourceOpenError as exc:
                yield StreamEnd(child.id, str(exc))
            finally:
                child.close()

    def close(self) -> None:
        for child in self.children:
            child.close()
