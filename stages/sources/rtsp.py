"""Live network streams (RTSP, HTTP, RTMP...) with automatic reconnection.

When the stream fails or ends (or cannot be opened at start), the source yields `StreamLost`,
retries with exponential back-off (0.5 s doubling up to `reconnect_max_s`) until the stream
answers again or the run stops, then
yields `StreamRecovered` with the gap. Frame timestamps are wall-clock seconds since the first
open, so they stay monotonic across reconnections (the camera's own clock restarts).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import ClassVar, Literal

import av
from pydantic import Field

from pipeline.errors import SourceOpenError
from pipeline.source_config import SourceConfig
from pipeline.types import Frame
from stages.sources.base import SourceItem, StreamEnd, StreamLost, StreamRecovered
from stages.sources.video import DECODE_ERRORS, BgrFrames, open_container, reason, stream_start

FIRST_RETRY_S = 0.5


LIVE_SCHEMES = ("rtsp", "rtsps", "rtmp", "http", "https", "udp", "tcp")


class RtspSourceConfig(SourceConfig):
    """A live network stream, reconnected after failures."""

    kind: Literal["rtsp"] = "rtsp"
    # Live cameras mostly watch still scenes and must keep up in real time: motion gating is on by
    # default (files are usually analysed frame by frame, with no real-time budget: off there).
    motion_default: ClassVar[bool] = True
    transport: Literal["tcp", "udp"] = Field("tcp", description="RTSP transport.")
    open_timeout_s: float = Field(10.0, gt=0, description="Open and read timeout.")
    reconnect: bool = Field(True, description="Reconnect after a failure (stream_lost / stream_recovered "
                            "events) instead of ending with an error.")
    reconnect_max_s: float = Field(5.0, gt=0, description="Longest wait between reconnection attempts "
                                   "(back-off starts at 0.5 s and doubles).")


class RtspSource:
    """A live stream; the runner drops the oldest frames when the pipeline falls behind.

    Args:
        source_id: id written into every frame.
        uri: rtsp:// (or other network) URL; credentials are masked everywhere they are shown.
        transport: RTSP transport, "tcp" or "udp".
        timeout_s: open and read timeout.
        reconnect: retry after a failure (False ends the stream with an error instead).
        reconnect_max_s: longest wait between two attempts.
    """

    live = True

    def __init__(self, source_id: str, uri: str, *, transport: str = "tcp", timeout_s: float = 10.0,
                 reconnect: bool = True, reconnect_max_s: float = 5.0) -> None:
        self.id, self.uri = source_id, uri
        self.transport, self.timeout_s = transport, timeout_s
        self.reconnect, self.reconnect_max_s = reconnect, reconnect_max_s
        self.container: av.container.InputContainer | None = None

    @classmethod
    def from_config(cls, config: RtspSourceConfig) -> RtspSource:
        return cls(config.id, config.uri, transport=config.transport, timeout_s=config.open_timeout_s,
                   reconnect=config.reconnect, reconnect_max_s=config.reconnect_max_s)

    def _open(self) -> av.container.InputContainer:
        options = {"rtsp_transport": self.transport} if self.uri.startswith(("rtsp://", "rtsps://")) else {}
        return open_container(self.uri, options, self.timeout_s)

    def open(self) -> None:
        try:
            self.container = self._open()
        except DECODE_ERRORS as exc:
            raise SourceOpenError(self.id, self.uri, reason(exc)) from None

    def total_frames(self) -> int | None:
        return None

    def _reopen(self, stop: threading.Event) -> int | None:
        """Retry until the stream opens (returns attempts) or `stop` is set (returns None)."""
        delay, attempts = FIRST_RETRY_S, 0
        while not stop.wait(delay):
            attempts += 1
            try:
                self.container = self._open()
                return attempts
            except DECODE_ERRORS:
                delay = min(delay * 2, self.reconnect_max_s)
        return None

    def items(self, stop: threading.Event) -> Iterator[SourceItem]:
        if self.container is None:  # never opened (the camera was down at start): retry like a drop
            try:
                self.container = self._open()
            except DECODE_ERRORS as exc:
                if not self.reconnect:
                    raise SourceOpenError(self.id, self.uri, reason(exc)) from None
                lost_at = time.monotonic()
                yield StreamLost(self.id, f"cannot open: {reason(exc)}")
                attempts = self._reopen(stop)
                if attempts is None:
                    yield StreamEnd(self.id)
                    return
                yield StreamRecovered(self.id, round(time.monotonic() - lost_at, 3), attempts)
        assert self.container is not None
        yield stream_start(self.id, self.uri, self.container, None)
        start, index = time.monotonic(), 0
        bgr = BgrFrames()  # a reconnect may bring another frame size: the reused context follows it
        while not stop.is_set():
            try:
                for decoded in self.container.decode(self.container.streams.video[0]):
                    yield Frame(self.id, index, time.monotonic() - start, bgr(decoded))
                    index += 1
                    if stop.is_set():
                        break
                why = "stream ended"
            except DECODE_ERRORS as exc:
                why = reason(exc)
            if stop.is_set():
                break
            self.close()
            if not self.reconnect:
                yield StreamEnd(self.id, f"stream lost after {index} frames: {why}")
                return
            lost_at = time.monotonic()
            yield StreamLost(self.id, why)
            attempts = self._reopen(stop)
            if attempts is None:
                break
            yield StreamRecovered(self.id, round(time.monotonic() - lost_at, 3), attempts)
        yield StreamEnd(self.id)

    def close(self) -> None:
        if self.container is not None:
            self.container.close()
            self.container = None
