"""Live preview: annotated JPEG frames per source, encoded only while someone watches.

A `WatchedFeed`: one packet subscription (lossy, never slowing the pipeline) exists only while at
least one viewer is connected; its thread draws the detections (the video sink's default annotators)
and encodes a JPEG for each *watched* source at most `max_fps` times a second, scaled to at most
`max_width`. Viewers poll `latest(source_id)` for a new sequence number.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from argus.cli.serve.feed import WatchedFeed
from stages.annotate import annotate_key, annotate_packet, build_annotators

if TYPE_CHECKING:
    from pipeline.types import Packet


@dataclass
class PreviewFrame:
    """The latest encoded frame of one source."""

    seq: int
    jpeg: bytes
    detections: int


_DEFAULT_DRAWING = build_annotators(True)  # the video sink's default look


def annotated(packet: Packet, max_width: int, overlays: bool = False) -> np.ndarray:
    """The packet's frame with its detections (and, with `overlays`, the stages' lines and zones) drawn in
    the video sink's default look, scaled down to at most `max_width` pixels wide. A sink with the default
    `annotate:` has usually drawn it already: that drawing is reused (`annotate_packet`)."""
    image = annotate_packet(packet, _DEFAULT_DRAWING, annotate_key(True, overlays))
    height, width = image.shape[:2]
    if width > max_width:
        image = cv2.resize(image, (max_width, round(height * max_width / width)), interpolation=cv2.INTER_AREA)
    return image


class PreviewHub(WatchedFeed):
    """Encodes previews for watched sources of the current pipeline (see module docstring)."""

    thread_name = "argus-preview"

    def __init__(self, max_fps: float = 5.0, max_width: int = 640, quality: int = 75) -> None:
        super().__init__(max_fps)
        self.max_width, self.quality = max_width, quality
        self.frames: dict[str, PreviewFrame] = {}
        self.detections: dict[str, int] = {}  # source id -> detections on its latest seen frame
        self.sizes: dict[str, list[int]] = {}  # source id -> [width, height] of its frames (before scaling)
        self.encoded = 0

    def latest(self, source_id: str) -> PreviewFrame | None:
        return self.frames.get(source_id)

    def _seen(self, source_id: str, packet: Packet) -> None:
        self.detections[source_id] = len(packet.detections)
        self.sizes[source_id] = [packet.frame.image.shape[1], packet.frame.image.shape[0]]

    def _frame(self, source_id: str, packet: Packet) -> None:
        image = annotated(packet, self.max_width)
        ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if not ok:
            return
        previous = self.frames.get(source_id)
        self.frames[source_id] = PreviewFrame((previous.seq + 1) if previous else 1, jpeg.tobytes(),
                                              len(packet.detections))
        self.encoded += 1

    def stats(self) -> dict[str, Any]:
        """Preview counters for /api/stats."""
        return {"active": self.active, "encoded": self.encoded, "watchers": dict(self.watchers),
                "detections": dict(self.detections), "sizes": dict(self.sizes)}
