"""What crosses from an actor to the driver: per frame its numbers and detections, never its pixels."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pipeline.types import Detections, Frame, Packet

_PIXEL = np.zeros((1, 1, 3), np.uint8)


@dataclass(slots=True)
class FrameResult:
    """One processed frame, as the driver receives it (about 100 bytes plus the detections)."""

    source_id: str
    index: int
    pts_s: float
    width: int
    height: int
    detections: Detections
    timings: dict[str, float] = field(default_factory=dict)
    overlays: dict = field(default_factory=dict)  # Packet.overlays (small: zones' geometry and counts)

    @classmethod
    def of(cls, packet: Packet) -> FrameResult:
        frame = packet.frame
        return cls(frame.source_id, frame.index, frame.pts_s, frame.width, frame.height,
                   _light(packet.detections), dict(packet.timings), dict(packet.overlays))

    def packet(self) -> Packet:
        """A Packet for the driver's sinks and subscribers: the image is a read-only stand-in of the
        right shape (one black pixel broadcast), since frames never leave their actor."""
        image = np.broadcast_to(_PIXEL, (self.height, self.width, 3))
        return Packet(Frame(self.source_id, self.index, self.pts_s, image), self.detections,
                      timings=self.timings, overlays=self.overlays)


def _light(detections: Detections) -> Detections:
    """Detections without the appearance embeddings (used on the actor only, 2 KB per person)."""
    return detections.with_columns(embedding=None) if detections.embedding is not None else detections
