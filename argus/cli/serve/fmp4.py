"""Fragmented MP4 (H.264) in memory for the live view: an init segment, then one chunk per frame.

libx264 with `tune=zerolatency` (no B-frames, no look-ahead: a frame leaves the encoder at once) and a
keyframe forced every `gop_s` seconds of frame time. The MP4 muxer writes each frame as its own
`moof`+`mdat` fragment (`frag_every_frame`, `empty_moov`): Media Source Extensions can append it as
it is, and the fragments from one keyframe to the next make one HLS segment. The muxer writes a
frame's fragment once the next frame arrives (it needs its duration): one frame of delay.
"""

from __future__ import annotations

import contextlib
import struct
from collections import deque
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np
from av.video.frame import PictureType

TIME_BASE = Fraction(1, 1000)


@dataclass(frozen=True)
class Chunk:
    """One frame's `moof`+`mdat`; `pts_s` is its presentation time in the stream."""

    keyframe: bool
    pts_s: float
    data: bytes


class _Collect:
    """A write-only, unseekable file for the muxer: what it writes waits in `data`."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.written = 0

    def write(self, data: bytes) -> int:
        self.data += data
        self.written += len(data)
        return len(data)

    def tell(self) -> int:
        return self.written

    def seekable(self) -> bool:
        return False

    def seek(self, *_args: int) -> int:
        raise OSError("the live stream cannot seek")

    def flush(self) -> None:
        pass


class FragmentEncoder:
    """Encodes BGR frames of one size into fragmented MP4 (see module docstring)."""

    def __init__(self, width: int, height: int, gop_s: float = 1.0, crf: int = 28, preset: str = "veryfast") -> None:
        self.width, self.height, self.gop_s = width - width % 2, height - height % 2, gop_s
        self._out = _Collect()
        self._container = av.open(self._out, "w", format="mp4",
                                  options={"movflags": "frag_every_frame+empty_moov+default_base_moof"})
        stream = self._container.add_stream("libx264", rate=25, options={"preset": preset, "tune": "zerolatency",
                                                                          "crf": str(crf)})
        stream.width, stream.height, stream.pix_fmt = self.width, self.height, "yuv420p"
        stream.codec_context.time_base = TIME_BASE
        stream.codec_context.gop_size = 600  # keyframes come from gop_s (forced), this is a backstop
        stream.codec_context.max_b_frames = 0
        self._stream = stream
        self._pending: deque[tuple[bool, float]] = deque()  # (keyframe, pts_s) of muxed frames, in order
        self._moof: bytes | None = None
        self._head = bytearray()
        self.init: bytes | None = None  # ftyp + moov, once the first frame is muxed
        self.codec = "avc1.42E01E"  # the RFC 6381 codec string, read from the init segment's avcC
        self._last_ms = -1
        self._last_key = float("-inf")

    def encode(self, image: np.ndarray, pts_s: float) -> list[Chunk]:
        """Encode one frame (`pts_s` must grow); the chunks the muxer completed meanwhile."""
        image = image[:self.height, :self.width]
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="bgr24")
        pts_ms = max(self._last_ms + 1, round(pts_s * 1000))
        self._last_ms = pts_ms
        frame.pts, frame.time_base = pts_ms, TIME_BASE
        if pts_ms / 1000 - self._last_key >= self.gop_s:
            frame.pict_type = PictureType.I
            self._last_key = pts_ms / 1000
        for packet in self._stream.encode(frame):
            self._pending.append((bool(packet.is_keyframe), float(packet.pts * packet.time_base)))
            self._container.mux(packet)
        return self._take()

    def close(self) -> None:
        """End the stream (what is still buffered is dropped: nobody watches any more)."""
        with contextlib.suppress(av.FFmpegError, OSError):
            self._container.close()

    def _take(self) -> list[Chunk]:
        """Split what the muxer wrote into the init segment and whole chunks."""
        data, chunks = self._out.data, []
        while len(data) >= 8:
            size, kind = struct.unpack(">I4s", data[:8])
            if size < 8 or len(data) < size:
                break
            box = bytes(data[:size])
            del data[:size]
            if kind in (b"ftyp", b"moov"):
                self._head += box
                if kind == b"moov":
                    self.init, self.codec = bytes(self._head), _avc_codec(box) or self.codec
            elif kind == b"moof":
                self._moof = box
            elif kind == b"mdat" and self._moof is not None and self._pending:
                keyframe, pts_s = self._pending.popleft()
                chunks.append(Chunk(keyframe, pts_s, self._moof + box))
                self._moof = None
        return chunks


def _avc_codec(moov: bytes) -> str | None:
    """`avc1.PPCCLL` from the avcC box inside `moov` (profile, constraints, level), if there is one."""
    at = moov.find(b"avcC")
    if at < 0 or len(moov) < at + 8:
        return None
    return "avc1." + moov[at + 5:at + 8].hex().upper()
