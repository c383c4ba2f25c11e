"""`pattern://square`: a white square sliding left to right over black frames (a synthetic source)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Literal

import numpy as np
from pydantic import Field, field_validator

from pipeline.source import SourceItem, StreamEnd, StreamStart
from pipeline.source_config import SourceConfig
from pipeline.types import Frame


class PatternSourceConfig(SourceConfig):
    """Synthetic frames: `pattern://square`."""

    kind: Literal["pattern"] = "pattern"
    frames: int = Field(40, ge=2, description="Frames in the stream.")
    width: int = Field(160, ge=16, description="Frame width in pixels.")
    height: int = Field(120, ge=16, description="Frame height in pixels.")
    fps: float = Field(20.0, gt=0, description="Nominal frame rate.")
    size: int = Field(16, ge=2, description="Side of the square in pixels.")

    @field_validator("uri")
    @classmethod
    def _square(cls, uri: str) -> str:
        if uri != "pattern://square":
            raise ValueError("the only pattern is pattern://square")
        return uri


class PatternSource:
    """The square moves from the left edge to the right edge over the stream, at mid height."""

    live = False

    def __init__(self, config: PatternSourceConfig) -> None:
        self.id, self.config = config.id, config

    def open(self) -> None:
        pass

    def total_frames(self) -> int | None:
        return self.config.frames

    def square_x(self, index: int) -> int:
        """Left edge of the square on frame `index`."""
        c = self.config
        return round(index * (c.width - c.size) / (c.frames - 1))

    def items(self, stop: threading.Event) -> Iterator[SourceItem]:
        c = self.config
        yield StreamStart(self.id, c.uri, c.width, c.height, c.fps, c.frames)
        top = (c.height - c.size) // 2
        for index in range(c.frames):
            if stop.is_set():
                break
            image = np.zeros((c.height, c.width, 3), np.uint8)
            x = self.square_x(index)
            image[top:top + c.size, x:x + c.size] = 255
            yield Frame(self.id, index, index / c.fps, image)
        yield StreamEnd(self.id)

    def close(self) -> None:
        pass
