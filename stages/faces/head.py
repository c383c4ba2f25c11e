"""Where a person's head is: a square around the face keypoints of a pose model (nose, eyes, ears),
or the top of the person box when they are missing. Shared by the face stage (where to look for a
face) and the blur annotator (what to hide): numpy only, no model.
"""

from __future__ import annotations

import numpy as np

from pipeline.types import Detections

FACE_KEYPOINTS = (0, 1, 2, 3, 4)  # COCO: nose, left eye, right eye, left ear, right ear
MIN_CONF = 0.3  # a keypoint counts when its confidence is at least this
SPREAD_SCALE = 2.2  # head side = this x the spread of the visible face keypoints ...
WIDTH_SHARE = 0.45  # ... and at least this share of the person box width (a profile has 2-3 points)
TOP_SHARE = 0.7  # no face keypoint: a square of this share of the box width at the top of the box


def head_boxes(detections: Detections) -> np.ndarray:
    """(N, 4) square head regions in frame pixels, one per row (NaN rows when a row has no box)."""
    boxes = detections.xyxy.astype(np.float32)
    n = len(boxes)
    out = np.full((n, 4), np.nan, dtype=np.float32)
    if n == 0:
        return out
    width = np.maximum(boxes[:, 2] - boxes[:, 0], 1.0)
    height = np.maximum(boxes[:, 3] - boxes[:, 1], 1.0)
    # default: the top of the box
    side = np.minimum(width * TOP_SHARE, height)
    cx = (boxes[:, 0] + boxes[:, 2]) / 2
    cy = boxes[:, 1] + side / 2
    kps = detections.keypoints
    if kps is not None and kps.shape[1] >= 5:
        face = kps[:, FACE_KEYPOINTS, :]
        seen = face[:, :, 2] >= MIN_CONF
        count = seen.sum(axis=1)
        ok = count >= 1
        if ok.any():
            xs = np.where(seen, face[:, :, 0], np.nan)
            ys = np.where(seen, face[:, :, 1], np.nan)
            with np.errstate(invalid="ignore"):
                x_lo, x_hi = np.nanmin(xs[ok], axis=1), np.nanmax(xs[ok], axis=1)
                y_lo, y_hi = np.nanmin(ys[ok], axis=1), np.nanmax(ys[ok], axis=1)
            spread = np.maximum(x_hi - x_lo, y_hi - y_lo)
            s = np.maximum(spread * SPREAD_SCALE, width[ok] * WIDTH_SHARE)
            s = np.minimum(s, np.maximum(width[ok], height[ok] * 0.5))
            side[ok] = s
            cx[ok] = (x_lo + x_hi) / 2
            cy[ok] = (y_lo + y_hi) / 2 + 0.1 * s  # keypoints sit in the upper half of a face box
    half = side / 2
    out[:] = np.stack([cx - half, cy - half, cx + half, cy + half], axis=1)
    return out
