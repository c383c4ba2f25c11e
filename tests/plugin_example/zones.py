"""The `blob_zones` stage: finds the bright blob on each frame and raises `blob_entered` when its centre
enters a named rectangle (per source; entering a zone again counts only after leaving it)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
from pydantic import Field

from pipeline.stage import StageConfig
from pipeline.types import Detections, Event, Packet

ZONE_ENTERED = "blob_entered"  # not `zone_entered`: the built-in zones stage owns that type
ZONE_FIELDS = {"zone": "the zone's name", "x": "the blob centre's x in pixels", "y": "its y in pixels"}


class ZoneConfig(StageConfig):
    """Named zones (x1, y1, x2, y2 in pixels) watched for the bright blob."""

    type: Literal["blob_zones"] = "blob_zones"
    zones: dict[str, tuple[float, float, float, float]] = Field(
        default_factory=lambda: {"door": (100.0, 0.0, 160.0, 120.0)}, description="Zone name -> box.")
    threshold: int = Field(128, ge=0, le=255, description="Grey level above which a pixel is the blob.")


class ZoneStage:
    """One detection per frame (the blob's box, extra column `zone`) and `zone_entered` events."""

    name = "blob_zones"

    def __init__(self, config: ZoneConfig) -> None:
        self.config = config
        self._inside: dict[str, set[str]] = {}  # source id -> zones the blob is in

    def _blob(self, image: np.ndarray) -> np.ndarray | None:
        """(4,) box of the pixels brighter than the threshold, or None."""
        ys, xs = np.nonzero(image.max(axis=2) > self.config.threshold)
        if xs.size == 0:
            return None
        return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float32)

    def process(self, batch: Sequence[Packet]) -> list[Packet]:
        for packet in batch:
            frame = packet.frame
            box = self._blob(frame.image)
            if box is None:
                continue
            cx, cy = float(box[0] + box[2]) / 2, float(box[1] + box[3]) / 2
            now = {name for name, (x1, y1, x2, y2) in self.config.zones.items() if x1 <= cx < x2 and y1 <= cy < y2}
            before = self._inside.get(frame.source_id, set())
            for zone in sorted(now - before):
                packet.events.append(Event(ZONE_ENTERED, frame.source_id, frame.pts_s, frame.index,
                                           payload={"zone": zone, "x": cx, "y": cy}))
            self._inside[frame.source_id] = now
            packet.detections = Detections(xyxy=box[None], score=np.ones(1, np.float32),
                                           class_id=np.zeros(1, np.int32),
                                           extra={"zone": np.array([min(now, default=None)], object)})
        return list(batch)

    def end_source(self, source_id: str) -> list[Event]:
        self._inside.pop(source_id, None)
        return []

    def close(self) -> None:
        self._inside.clear()
