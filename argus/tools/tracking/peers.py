"""Roboflow `trackers` (Apache-2.0) wrapped in Argus' tracker interface, for comparisons only.

`bytetrack-rf` -> `trackers.ByteTrackTracker`, `sort-rf` -> `SORTTracker`, `ocsort-rf` ->
`OCSORTTracker`, each with its default parameters and the stream's frame rate. Rows are mapped
back through a `row` data column, never by IoU.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pipeline.types import Detections

PEERS: dict[str, str] = {"bytetrack-rf": "ByteTrackTracker", "sort-rf": "SORTTracker",
                         "ocsort-rf": "OCSORTTracker"}


class PeerTracker:
    """A Roboflow tracker behind `update(detections, frame_index) -> Detections` with track ids.

    Args:
        name: a key of `PEERS`.
        frame_rate: frames per second of the stream.
    """

    def __init__(self, name: str, frame_rate: float = 30.0) -> None:
        if name not in PEERS:
            raise ValueError(f"unknown peer tracker {name!r}; choose from {sorted(PEERS)}")
        import supervision as sv
        import trackers

        self._sv = sv
        self.name = name
        self.tracker: Any = getattr(trackers, PEERS[name])(frame_rate=frame_rate)

    def to_input(self, detections: Detections) -> Any:
        """The supervision Detections the peer consumes (built outside timed loops)."""
        n = len(detections)
        return self._sv.Detections(xyxy=detections.xyxy.astype(np.float32), confidence=detections.score,
                                   class_id=detections.class_id, data={"row": np.arange(n)})

    def update_raw(self, sv_dets: Any) -> Any:
        """The peer's own update on prepared supervision Detections."""
        return self.tracker.update(sv_dets)

    def update(self, detections: Detections, frame_index: int, dt: float | None = None,
               image: np.ndarray | None = None) -> Detections:
        """Track one frame; same rows back with `track_id` (-1 = none)."""
        result = self.update_raw(self.to_input(detections))
        ids = np.full(len(detections), -1, np.int64)
        if len(result):
            ids[np.asarray(result.data["row"], np.int64)] = np.asarray(result.tracker_id, np.int64)
        return detections.with_columns(track_id=ids)
