"""Video files decoded with PyAV (FFmpeg), with truncation and corruption reported as stream errors."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import av
import numpy as np
from av.video.reformatter import VideoReformatter
from pydantic import Field

from pipeline.errors import SourceOpenError
from pipeline.secrets import mask_secrets
from pipeline.source_config import SourceConfig
from pipeline.types import Frame
from stages.sources.base import SourceItem, StreamEnd, StreamStart

# A file that ends this far short of the frame count in its header is reported as truncated.
TRUNCATION_TOLERANCE = 0.98
DECODE_ERRORS = (av.error.FFmpegError, OSError, ValueError)


def open_container(uri: str, options: dict[str, str] | None = None,
                   timeout_s: float | None = None) -> av.container.InputContainer:
    """av.open with a video stream check; raises av/OS errors or ValueError('no video stream')."""
    container = av.open(uri, options=options or {}, timeout=(timeout_s, timeout_s) if timeout_s else None)
    if not container.streams.video:
        container.close()
        raise ValueError("no video stream")
    stream = container.streams.video[0]
    # Slice threads only: FFmpeg's frame threading ("AUTO") cost 1.3 ms of CPU per 480x360 H.264 frame
    # against 0.7 with slices (300 frames of vtest.mp4, 3 runs), and holds frames back by one per
    # thread; the pipeline's parallelism comes from the model and from one reader per source.
    stream.thread_type = "SLICE"
    return container


def stream_start(source_id: str, uri: str, container: av.container.InputContainer,
                 frames: int | None) -> StreamStart:
    """The StreamStart marker for an opened container."""
    stream = container.streams.video[0]
    fps = float(stream.average_rate or stream.guessed_rate or 25.0)
    return StreamStart(source_id, mask_secrets(uri), stream.codec_context.width, stream.codec_context.height,
                       fps, frames)


class BgrFrames:
    """Decoded frames as BGR arrays through one reused libswscale context: PyAV's `to_ndarray(format=...)`
    sets up a new one for every frame. The same pixels; decoding vtest.mp4 (480x360) and converting took
    0.59-0.65 against 0.73-0.81 ms a frame."""

    def __init__(self) -> None:
        self._reformatter = VideoReformatter()

    def __call__(self, frame: av.VideoFrame) -> np.ndarray:
        return self._reformatter.reformat(frame, format="bgr24").to_ndarray()


def reason(exc: BaseException) -> str:
    """A short, credential-free description of a decoding/opening error."""
    text = getattr(exc, "strerror", None) or str(exc)
    return mask_secrets(text.split(": '", 1)[0])


class VideoSourceConfig(SourceConfig):
    """A video file (anything FFmpeg opens that has an end)."""

    kind: Literal["video"] = "video"
    loop: bool = Field(False, description="Start again at the end, until stopped.")
    realtime: bool = Field(False, description="Pace frames at the file's frame rate and treat the file like a "
                           "live camera (the oldest frames are dropped when the pipeline falls behind).")


class VideoSource:
    """A video file, read as fast as the pipeline takes frames (the runner never drops them).

    Args:
        source_id: id written into every frame.
        uri: file path (anything FFmpeg opens that has a known end).
        loop: start again at the end, forever (timestamps and frame numbers keep growing).
        realtime: pace frames at the file's frame rate and behave like a live camera (`live`: the
            runner drops the oldest frames when the pipeline falls behind). For soak tests and demos.
    """

    def __init__(self, source_id: str, uri: str, *, loop: bool = False, realtime: bool = False) -> None:
        self.id, self.uri, self.loop, self.live = source_id, uri, loop, realtime
        self.container: av.container.InputContainer | None = None
        self._frames: int | None = None

    @classmethod
    def from_config(cls, config: VideoSourceConfig) -> VideoSource:
        return cls(config.id, config.uri, loop=config.loop, realtime=config.realtime)

    def open(self) -> None:
        if not Path(self.uri).is_file():
            raise SourceOpenError(self.id, self.uri, "no such file" if not Path(self.uri).exists() else "not a file")
        try:
            self.container = open_container(self.uri)
        except DECODE_ERRORS as exc:
            raise SourceOpenError(self.id, self.uri, reason(exc)) from None
        stream = self.container.streams.video[0]
        if stream.frames:
            self._frames = int(stream.frames)
        elif stream.duration and stream.average_rate:
            self._frames = int(float(stream.duration * stream.time_base) * float(stream.average_rate))

    def total_frames(self) -> int | None:
        """Frame count from the file's header (None when the header lacks it or the file loops)."""
        return None if self.loop else self._frames

    def items(self, stop: threading.Event) -> Iterator[SourceItem]:
        if self.container is None:
            self.open()
        assert self.container is not None
        start = stream_start(self.id, self.uri, self.container, self.total_frames())
        yield start
        index, offset_s, error = 0, 0.0, None
        clock = time.monotonic()
        bgr = BgrFrames()
        while error is None:
            stream = self.container.streams.video[0]
            first, pts_s = index, offset_s
            try:
                for decoded in self.container.decode(stream):
                    pts_s = offset_s + (float(decoded.pts * stream.time_base) if decoded.pts is not None
                                        else (index - first) / start.fps)
                    if self.live:  # pace like a camera
                        stop.wait(max(0.0, clock + pts_s - time.monotonic()))
                    yield Frame(self.id, index, pts_s, bgr(decoded))
                    index += 1
                    if stop.is_set():
                        break
            except DECODE_ERRORS as exc:
                error = f"decode failed after {index} frames: {reason(exc)}"
                if self._frames and index - first < self._frames * TRUNCATION_TOLERANCE:
                    error = f"truncated or corrupt: {error} (the header says {self._frames})"
            if error is None and not stop.is_set() and self._frames \
                    and index - first < self._frames * TRUNCATION_TOLERANCE:
                error = f"truncated: ended after {index - first} of {self._frames} frames"
            if error is not None or stop.is_set() or not self.loop:
                break
            offset_s = pts_s + 1.0 / start.fps
            self.close()
            self.open()
        yield StreamEnd(self.id, error)

    def close(self) -> None:
        if self.container is not None:
            self.container.close()
            self.container = None
