"""A folder of still images, read in name order as one stream."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import cv2
from pydantic import Field

from pipeline.errors import SourceOpenError
from pipeline.source_config import SourceConfig
from pipeline.types import Frame
from stages.sources.base import SourceItem, StreamEnd, StreamStart

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


class ImagesSourceConfig(SourceConfig):
    """A folder of images, read in name order."""

    kind: Literal["images"] = "images"
    fps: float | None = Field(None, gt=0, description="Frame rate to assume (default 25).")


class ImageFolderSource:
    """Every image in a folder (sorted by name) as frames at a nominal `fps`."""

    live = False

    def __init__(self, source_id: str, folder: Path, fps: float = 25.0) -> None:
        self.id, self.folder, self.fps = source_id, folder, fps
        self.paths: list[Path] = []

    @classmethod
    def from_config(cls, config: ImagesSourceConfig) -> ImageFolderSource:
        return cls(config.id, Path(config.uri), fps=config.fps or 25.0)

    def open(self) -> None:
        if not self.folder.is_dir():
            raise SourceOpenError(self.id, str(self.folder), "no such folder")
        self.paths = sorted(p for p in self.folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.paths:
            raise SourceOpenError(self.id, str(self.folder), "no images in folder")

    def total_frames(self) -> int | None:
        return len(self.paths)

    def items(self, stop: threading.Event) -> Iterator[SourceItem]:
        first = cv2.imread(str(self.paths[0]))
        height, width = first.shape[:2] if first is not None else (0, 0)
        yield StreamStart(self.id, str(self.folder), width, height, self.fps, len(self.paths))
        for index, path in enumerate(self.paths):
            if stop.is_set():
                break
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                yield StreamEnd(self.id, f"cannot read image {path}")
                return
            yield Frame(self.id, index, index / self.fps, image)
        yield StreamEnd(self.id)

    def close(self) -> None:
        pass
