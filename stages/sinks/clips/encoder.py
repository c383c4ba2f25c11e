"""One source's frames as H.264, encoded as they arrive (the pre-roll ring keeps the packets).

x264 with `tune=zerolatency` gives one packet per frame at once (no B-frames, no look-ahead), so a
clip can be closed on the frame that ends it. The stream's parameter sets (SPS/PPS) are global
headers, so every clip file can be written from this stream as its template without re-encoding.
The encoder is held by a container of FFmpeg's `null` format: PyAV fills a stream's codec
parameters (the template a clip's MP4 copies) only for a stream of an output container.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import av
import cv2
import numpy as np

TIME_BASE = Fraction(1, 90_000)


@dataclass(frozen=True, slots=True)
class EncodedFrame:
    """One encoded frame: its H.264 packet (Annex B), its time in TIME_BASE ticks and in seconds."""

    data: bytes
    pts: int
    pts_s: float
    key: bool


class FrameEncoder:
    """Encodes one source's BGR frames (cropped to even sizes, as 4:2:0 needs) in stream order."""

    def __init__(self, width: int, height: int, fps: float, *, preset: str, crf: int, keyframe_s: float) -> None:
        self.size = (width - width % 2, height - height % 2)
        self._null = av.open("null", "w", format="null")
        self.stream = self._null.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        ctx = self.stream.codec_context
        self.stream.width, self.stream.height = self.size
        self.stream.pix_fmt = "yuv420p"
        self.stream.time_base = ctx.time_base = TIME_BASE
        ctx.flags |= av.codec.context.Flags.global_header
        ctx.gop_size = max(1, round(fps * keyframe_s))
        ctx.options = {"preset": preset, "crf": str(crf), "tune": "zerolatency", "threads": "1"}
        self._null.start_encoding()
        self._last_pts = -1

    def encode(self, image: np.ndarray, pts_s: float) -> list[EncodedFrame]:
        """The packets of this frame (one; none only if the encoder held it back)."""
        width, height = self.size
        if image.shape[1] != width or image.shape[0] != height:
            image = image[:height, :width]
        # cv2's BGR -> I420 costs 0.4 ms at 720p where x264's own conversion of bgr24 costs about 7 ms.
        frame = av.VideoFrame.from_ndarray(cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_BGR2YUV_I420),
                                           format="yuv420p")
        pts = max(self._last_pts + 1, round(pts_s / TIME_BASE))  # never repeat a timestamp
        frame.pts, frame.time_base, self._last_pts = pts, TIME_BASE, pts
        seconds = {pts: pts_s}
        return [EncodedFrame(bytes(p), int(p.pts), seconds.get(int(p.pts), float(p.pts * TIME_BASE)), p.is_keyframe)
                for p in self.stream.encode(frame)]

    def close(self) -> None:
        if self._null is not None:
            self._null.close()
            self._null = None
