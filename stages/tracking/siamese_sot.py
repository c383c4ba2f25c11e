"""Siamese single-object tracking (SiamFC-style) on the detector's own feature map.

For a confirmed track the detector missed, its template (the feature-map crop of its last
confident box) is slid over a search region around the Kalman prediction, and the normalised
cross-correlation peak gives the new position: both sides go through the same "encoder" (the
detector's backbone), as in SiamFC, only without training a second network. The track is carried
only while the peak stays at or above `min_peak` and for at most `max_frames` frames in a row.
"""

from __future__ import annotations

import numpy as np

from pipeline.types import FeatureMap
from stages.models.appearance import cell_box


class SiameseSot:
    """Templates per track id, and the search that relocates a track on a new frame.

    Args:
        min_peak: minimum normalised cross-correlation (-1..1) to accept a location.
        max_frames: most consecutive frames one track is carried without a detection.
        search_margin: the search region is the predicted box grown by this fraction of its
            size on every side.
    """

    def __init__(self, min_peak: float = 0.6, max_frames: int = 10, search_margin: float = 0.5) -> None:
        self.min_peak = min_peak
        self.max_frames = max_frames
        self.search_margin = search_margin
        self.templates: dict[int, np.ndarray] = {}  # track id -> (C, th, tw) zero-mean, unit norm
        self.carried: dict[int, int] = {}  # track id -> consecutive frames carried

    def remember(self, fmap: FeatureMap, track_ids: np.ndarray, xyxy: np.ndarray) -> None:
        """Store (replace) the templates of tracks `track_ids` at their (N, 4) frame-pixel boxes."""
        _, height, width = fmap.data.shape
        for track_id, cells in zip(track_ids.tolist(), fmap.to_cells(xyxy), strict=True):
            x0, y0, x1, y1 = cell_box(cells, height, width)
            crop = fmap.data[:, y0:y1, x0:x1].astype(np.float32)
            crop = crop - crop.mean()
            norm = float(np.linalg.norm(crop))
            if norm > 1e-6 and min(crop.shape[1:]) >= 2:
                self.templates[track_id] = crop / norm
            self.carried[track_id] = 0

    def forget(self, track_ids: list[int]) -> None:
        for track_id in track_ids:
            self.templates.pop(track_id, None)
            self.carried.pop(track_id, None)

    def locate(self, fmap: FeatureMap, track_id: int, predicted_xyxy: np.ndarray) -> tuple[np.ndarray, float] | None:
        """(frame-pixel xyxy box, peak) of track `track_id` near its predicted box, or None."""
        template = self.templates.get(track_id)
        if template is None or self.carried.get(track_id, 0) >= self.max_frames:
            return None
        _, th, tw = template.shape
        _, height, width = fmap.data.shape
        cells = fmap.to_cells(predicted_xyxy[None])[0]
        grow = self.search_margin * np.array([-(cells[2] - cells[0]), -(cells[3] - cells[1]),
                                              cells[2] - cells[0], cells[3] - cells[1]])
        x0, y0, x1, y1 = cell_box(cells + grow, height, width)
        region = fmap.data[:, y0:y1, x0:x1].astype(np.float32)
        if region.shape[1] < th or region.shape[2] < tw:
            return None
        scores = normalised_correlation(region, template)
        iy, ix = np.unravel_index(int(np.argmax(scores)), scores.shape)
        peak = float(scores[iy, ix])
        if peak < self.min_peak:
            return None
        self.carried[track_id] = self.carried.get(track_id, 0) + 1
        box_cells = np.array([x0 + ix, y0 + iy, x0 + ix + tw, y0 + iy + th], np.float64)
        return fmap.to_frame(box_cells[None])[0], peak


def normalised_correlation(region: np.ndarray, template: np.ndarray) -> np.ndarray:
    """Normalised cross-correlation of a zero-mean unit-norm (C, th, tw) `template` at every
    position of (C, H, W) `region` -> (H - th + 1, W - tw + 1) in -1..1."""
    _, th, tw = template.shape
    windows = np.lib.stride_tricks.sliding_window_view(region, (th, tw), axis=(1, 2))  # (C, i, j, th, tw)
    dot = np.einsum("cijhw,chw->ij", windows, template, optimize=True)
    # each window's norm about its own mean, from box sums of the region and of its square
    n = template.size
    total = _box_sum(region.sum(axis=0), th, tw)
    squares = _box_sum(np.square(region).sum(axis=0), th, tw)
    spread = np.sqrt(np.maximum(squares - total * total / n, 1e-12))
    return dot / spread


def _box_sum(plane: np.ndarray, th: int, tw: int) -> np.ndarray:
    """Sums of every th x tw window of a 2-D array (integral image)."""
    integral = np.pad(plane, ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    return integral[th:, tw:] - integral[:-th, tw:] - integral[th:, :-tw] + integral[:-th, :-tw]
