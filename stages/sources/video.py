"""Video files and RTSP streams, decoded with PyAV (FFmpeg)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import av

from pipeline.errors import SourceOpenError
from pipeline.secrets import mask_secrets
from pipeline.types import Frame
from stages.sources.base import SourceItem, StreamEnd, StreamStart

# A file that ends this far short of the frame count in its header is reported as truncated.
TRUNCATION_TOLERANCE = 0.98


class VideoSource:
    """A video file (`live=False`) or an rtsp:// URL (`live=True`).

    Args:
        source_id: id written into every frame.
        uri: file path or URL.
        live: RTSP/HTTP stream (never blocks on a slow pipeline; the runner drops the oldest frames).
        transport: RTSP transport, "tcp" or "udp".
        timeout_s: open and read timeout for network streams.
    """

    def __init__(self, source_id: str, uri: str, *, live: bool = False, transport: str = "tcp",
                 timeout_s: float = 10.0) -> None:
        self.id, self.uri, self.live = source_id, uri, live
        self.transport, self.timeout_s = transport, timeout_s
        self.container: av.container.InputContainer | None = None
        self._frames: int | None = None

    def _options(self) -> dict[str, str]:
        if self.uri.startswith(("rtsp://", "rtsps://")):
            return {"rtsp_transport": self.transport, "timeout": str(int(self.timeout_s * 1e6))}
        return {}

    def open(self) -> None:
        if not self.live and not Path(self.uri).is_file():
            reason = "no such file" if not Path(self.uri).exists() else "not a file"
            raise SourceOpenError(self.id, self.uri, reason)
        try:
            self.container = av.open(self.uri, options=self._options(),
                                     timeout=(self.timeout_s, self.timeout_s) if self.live else None)
        except (av.error.FFmpegError, OSError) as exc:
            raise SourceOpenError(self.id, self.uri, _reason(exc)) from None
        if not self.container.streams.video:
            self.container.close()
            raise SourceOpenError(self.id, self.uri, "no video stream")
        if not self.live:
            stream = self.container.streams.video[0]
            if stream.frames:
                self._frames = int(stream.frames)
            elif stream.duration and stream.average_rate:
                self._frames = int(float(stream.duration * stream.time_base) * float(stream.average_rate))

    def total_frames(self) -> int | None:
        """Frame count from the file's header (None for live streams or when the header lacks it)."""
        return self._frames

    def items(self, stop: threading.Event) -> Iterator[SourceItem]:
        if self.container is None:
            self.open()
        assert self.container is not None
        stream = self.container.streams.video[0]
        stream.thread_type = "AUTO"
        fps = float(stream.average_rate or stream.guessed_rate or 25.0)
        expected = self.total_frames()
        yield StreamStart(self.id, mask_secrets(self.uri), stream.codec_context.width,
                          stream.codec_context.height, fps, expected)
        index, error, start = 0, None, time.monotonic()
        try:
            for decoded in self.container.decode(stream):
                if decoded.pts is not None and stream.time_base is not None:
                    pts_s = float(decoded.pts * stream.time_base)
                else:
                    pts_s = time.monotonic() - start if self.live else index / fps
                yield Frame(self.id, index, pts_s, decoded.to_ndarray(format="bgr24"))
                index += 1
                if stop.is_set():
                    break
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            error = f"decode failed after {index} frames: {_reason(exc)}"
        if error is None and not stop.is_set() and not self.live and expected \
                and index < expected * TRUNCATION_TOLERANCE:
            error = f"truncated: ended after {index} of {expected} frames"
        yield StreamEnd(self.id, mask_secrets(error) if error else None)

    def close(self) -> None:
        if self.container is not None:
            self.container.close()
            self.container = None


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return mask_secrets(text.split(": '", 1)[0])
