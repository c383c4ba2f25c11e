"""The shared look: a colour per track id (grey when untracked) and a line width per frame size."""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from pipeline.types import Detections

UNTRACKED = (160, 160, 160)


@lru_cache(maxsize=4096)
def track_color(track_id: int) -> tuple[int, int, int]:
    """A stable, well-separated BGR colour per track id (golden-ratio hue steps)."""
    hue = int((track_id * 0.618033988749895 % 1.0) * 179)
    bgr = cv2.cvtColor(np.uint8([[[hue, 200, 255]]]), cv2.COLOR_HSV2BGR)[0, 0]
    return int(bgr[0]), int(bgr[1]), int(bgr[2])


def track_ids(detections: Detections) -> np.ndarray:
    """(N,) int64 track ids; -1 for every row when the detections were never tracked."""
    if detections.track_id is None:
        return np.full(len(detections), -1, np.int64)
    return detections.track_id


def row_colors(detections: Detections) -> list[tuple[int, int, int]]:
    """The BGR colour of each row: its track's colour, or grey when untracked."""
    return [track_color(int(t)) if t >= 0 else UNTRACKED for t in track_ids(detections)]


def line_thickness(image: np.ndarray) -> int:
    """Line width in pixels: about 1 per 360 pixels of the image's short side."""
    return max(1, round(min(image.shape[:2]) / 360))
