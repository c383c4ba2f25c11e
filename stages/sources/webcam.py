"""A local camera by index (/dev/videoN), read with OpenCV."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import ClassVar, Literal

import cv2
from pydantic import field_validator

from pipeline.errors import SourceOpenError
from pipeline.source_config import SourceConfig
from pipeline.types import Frame
from stages.sources.base import SourceItem, StreamEnd, StreamStart


class WebcamSourceConfig(SourceConfig):
    """A local camera: `uri` is its index ('0' for /dev/video0)."""

    kind: Literal["webcam"] = "webcam"
    # Live cameras mostly watch still scenes and must keep up in real time: motion gating is on by
    # default (files are usually analysed frame by frame, with no real-time budget: off there).
    motion_default: ClassVar[bool] = True

    @field_validator("uri")
    @classmethod
    def _index(cls, uri: str) -> str:
        if not uri.isdigit():
            raise ValueError("a webcam's uri is its index, e.g. '0'")
        return uri


class WebcamSource:
    """Camera `index`; live: the runner drops the oldest frames when the pipeline falls behind."""

    live = True

    def __init__(self, source_id: str, index: int) -> None:
        self.id, self.index = source_id, index
        self.capture: cv2.VideoCapture | None = None

    @classmethod
    def from_config(cls, config: WebcamSourceConfig) -> WebcamSource:
        return cls(config.id, int(config.uri))

    def open(self) -> None:
        self.capture = cv2.VideoCapture(self.index)
        if not self.capture.isOpened():
            self.capture.release()
            self.capture = None
            raise SourceOpenError(self.id, f"webcam {self.index}", "camera not found or busy")

    def total_frames(self) -> int | None:
        return None

    def items(self, stop: threading.Event) -> Iterator[SourceItem]:
        if self.capture is None:
            self.open()
        assert self.capture is not None
        fps = float(self.capture.get(cv2.CAP_PROP_FPS) or 30.0)
        width = int(self.capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(self.capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        yield StreamStart(self.id, f"webcam {self.index}", width, height, fps, None)
        start, index = time.monotonic(), 0
        while not stop.is_set():
            ok, image = self.capture.read()
            if not ok:
                yield StreamEnd(self.id, f"webcam {self.index} stopped delivering frames")
                return
            yield Frame(self.id, index, time.monotonic() - start, image)
            index += 1
        yield StreamEnd(self.id)

    def close(self) -> None:
        if self.capture is not None:
            self.capture.release()
            self.capture = None
