"""Live view: each watched source's annotated output as H.264 in fragmented MP4, for MSE and HLS.

A `WatchedFeed`: frames are drawn (the video sink's default annotators plus the stages' overlays),
scaled to at most `max_width` and encoded (`fmp4.FragmentEncoder`) only while a viewer is connected
(a held `stream.mp4`) or an HLS player keeps polling (a lease). A stream's presentation time is the
wall time the packet left the pipeline minus `epoch`, so a player's `currentTime + epoch` against its
clock is the latency. Each `LiveStream` keeps the last seconds of chunks (MSE viewers join at the
latest keyframe) and a sliding window of whole-GOP segments for the HLS playlist.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from argus.cli.serve.feed import WatchedFeed
from argus.cli.serve.fmp4 import Chunk, FragmentEncoder
from argus.cli.serve.preview import annotated

if TYPE_CHECKING:
    from pipeline.types import Packet

RESTART_AFTER_S = 10.0  # a source with no frame this long (a camera reconnecting) starts a fresh stream


@dataclass(frozen=True)
class Segment:
    """One HLS media segment: the chunks of one GOP."""

    seq: int
    pts_s: float
    duration_s: float
    data: bytes


class LiveStream:
    """One encoder run's output for one source (see module docstring); thread-safe reads."""

    def __init__(self, generation: int, epoch: float, init: bytes, codec: str, gop_s: float, window: int) -> None:
        self.generation, self.epoch, self.init, self.codec = generation, epoch, init, codec
        self.gop_s, self.keep_s, self.ended = gop_s, 3 * gop_s, False
        self.last_wall = time.time()
        self._recent: deque[tuple[int, Chunk]] = deque()
        self._gop: list[Chunk] = []
        self.window = window  # segments listed; as many more stay fetchable after they leave the list
        self.segments: deque[Segment] = deque(maxlen=2 * window)
        self._seq = 0
        self._segment_seq = 0
        self._lock = threading.Lock()

    def add(self, chunk: Chunk) -> None:
        """From the encoder: a new chunk (a keyframe closes the GOP before it into a segment)."""
        with self._lock:
            if chunk.keyframe and self._gop:
                first = self._gop[0]
                self.segments.append(Segment(self._segment_seq, first.pts_s, chunk.pts_s - first.pts_s,
                                             b"".join(c.data for c in self._gop)))
                self._segment_seq += 1
                self._gop = []
            if self._gop or chunk.keyframe:
                self._gop.append(chunk)
            self._seq += 1
            self._recent.append((self._seq, chunk))
            while self._recent and chunk.pts_s - self._recent[0][1].pts_s > self.keep_s:
                self._recent.popleft()
            self.last_wall = time.time()

    def chunks_after(self, seq: int | None) -> tuple[int | None, list[bytes]]:
        """The chunks after number `seq` (None, or fallen out of the window: from the latest keyframe),
        and the number of the last one."""
        with self._lock:
            recent = list(self._recent)
        if seq is None or (recent and seq < recent[0][0] - 1):
            start = max((i for i, (_, c) in enumerate(recent) if c.keyframe), default=None)
            if start is None:
                return None, []
        else:
            start = next((i for i, (n, _) in enumerate(recent) if n > seq), len(recent))
        taken = recent[start:]
        return (taken[-1][0] if taken else seq), [c.data for _, c in taken]

    def segment(self, seq: int) -> Segment | None:
        with self._lock:
            return next((s for s in self.segments if s.seq == seq), None)

    def playlist(self) -> str | None:
        """The HLS media playlist of the segments in the window (None before the first one)."""
        with self._lock:
            segments = list(self.segments)[-self.window:]
        if not segments:
            return None
        # fixed (RFC 8216: it must not change, and Chromium fails when it does): a GOP plus a frame's slack
        target = max(math.ceil(self.gop_s) + 1, math.ceil(round(max(s.duration_s for s in segments), 3)))
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(self.epoch + segments[0].pts_s))
        millis = f"{(self.epoch + segments[0].pts_s) % 1:.3f}"[1:]
        lines = ["#EXTM3U", "#EXT-X-VERSION:7", f"#EXT-X-TARGETDURATION:{target}",
                 f"#EXT-X-MEDIA-SEQUENCE:{segments[0].seq}", f'#EXT-X-MAP:URI="init{self.generation}.mp4"',
                 f"#EXT-X-PROGRAM-DATE-TIME:{stamp}{millis}Z"]
        for s in segments:
            lines += [f"#EXTINF:{s.duration_s:.3f},", f"{self.generation}-{s.seq}.m4s"]
        return "\n".join(lines) + "\n"


class LiveHub(WatchedFeed):
    """Encodes the live streams of watched sources of the current pipeline (see module docstring)."""

    thread_name = "argus-live"

    def __init__(self, max_fps: float = 10.0, max_width: int = 640, gop_s: float = 1.0, window: int = 4,
                 crf: int = 28) -> None:
        super().__init__(max_fps)
        self.max_width, self.gop_s, self.window, self.crf = max_width, gop_s, window, crf
        self.streams: dict[str, LiveStream] = {}
        self.encoded = 0
        self.encode_s = 0.0  # time spent drawing, scaling and encoding
        self._generation = 0
        self._paused: set[str] = set()  # sources whose frames went unwatched: their next stream starts fresh
        self._local = threading.local()  # this thread's encoders: source id -> (encoder, its stream or None)

    def _encoders(self) -> dict[str, tuple[FragmentEncoder, LiveStream | None, float]]:
        if not hasattr(self._local, "encoders"):
            self._local.encoders = {}
        return self._local.encoders

    def _seen(self, source_id: str, packet: Packet) -> None:
        if not self.watched(source_id):
            self._paused.add(source_id)

    def _frame(self, source_id: str, packet: Packet) -> None:
        started = time.perf_counter()
        now = time.time()
        image = annotated(packet, self.max_width, overlays=True)
        encoders = self._encoders()
        entry = encoders.get(source_id)
        if entry is not None:
            encoder, stream, _ = entry
            stale = source_id in self._paused or (stream is not None and now - stream.last_wall > RESTART_AFTER_S)
            if stale or image.shape[1] - image.shape[1] % 2 != encoder.width \
                    or image.shape[0] - image.shape[0] % 2 != encoder.height:
                self._finish(source_id, entry)
                entry = None
        if entry is None:
            encoder = FragmentEncoder(image.shape[1], image.shape[0], self.gop_s, self.crf)
            entry = (encoder, None, now)
        encoder, stream, epoch = entry
        for chunk in encoder.encode(image, now - epoch):
            if stream is None and encoder.init is not None:
                self._generation += 1
                stream = LiveStream(self._generation, epoch, encoder.init, encoder.codec, self.gop_s, self.window)
                self.streams[source_id] = stream
            if stream is not None:
                stream.add(chunk)
        encoders[source_id] = (encoder, stream, epoch)
        self._paused.discard(source_id)
        self.encoded += 1
        self.encode_s += time.perf_counter() - started

    def _finish(self, source_id: str, entry: tuple[FragmentEncoder, LiveStream | None, float]) -> None:
        encoder, stream, _ = entry
        encoder.close()
        if stream is not None:
            stream.ended = True
            if self.streams.get(source_id) is stream:
                del self.streams[source_id]

    def _ended(self) -> None:
        encoders = self._encoders()
        for source_id, entry in list(encoders.items()):
            self._finish(source_id, entry)
        encoders.clear()

    def current(self, source_id: str) -> LiveStream | None:
        """The source's live stream, if one is being written now."""
        stream = self.streams.get(source_id)
        if stream is None or stream.ended or time.time() - stream.last_wall > RESTART_AFTER_S:
            return None
        return stream

    def stats(self) -> dict[str, Any]:
        """Live-view counters for /api/stats: frames encoded and the mean cost of one."""
        return {"active": self.active, "encoded": self.encoded, "watchers": dict(self.watchers),
                "ms_per_frame": round(1000 * self.encode_s / self.encoded, 2) if self.encoded else 0.0}
