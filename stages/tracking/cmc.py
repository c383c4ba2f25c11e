"""Camera-motion compensation: a global similarity transform between consecutive frames.

Corners are found on a downscaled grey copy of the previous frame (`cv2.goodFeaturesToTrack`),
followed into the current one with pyramidal Lucas-Kanade (`cv2.calcOpticalFlowPyrLK`), and a
4-DoF affine (rotation, uniform scale, translation) is fitted with RANSAC
(`cv2.estimateAffinePartial2D`). Track states are then warped by it before prediction.
"""

from __future__ import annotations

import cv2
import numpy as np


class CameraMotion:
    """Estimates the (2, 3) affine mapping the previous frame's pixels onto the current frame's.

    Args:
        max_side: frames are downscaled so their longer side is at most this many pixels.
        max_corners: corners tracked per frame.
    """

    def __init__(self, max_side: int = 320, max_corners: int = 200) -> None:
        self.max_side = max_side
        self.max_corners = max_corners
        self._prev: np.ndarray | None = None
        self._prev_pts: np.ndarray | None = None

    def estimate(self, image: np.ndarray) -> np.ndarray | None:
        """(2, 3) float64 affine from the previous call's frame to `image` (BGR or grey), or None
        on the first frame, a size change or too few reliable points."""
        grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        scale = min(1.0, self.max_side / max(grey.shape[:2]))
        if scale < 1.0:
            grey = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        prev, prev_pts = self._prev, self._prev_pts
        self._prev = grey
        self._prev_pts = cv2.goodFeaturesToTrack(grey, self.max_corners, 0.01, 8, blockSize=3)
        if prev is None or prev.shape != grey.shape or prev_pts is None or len(prev_pts) < 8:
            return None
        pts, status, _ = cv2.calcOpticalFlowPyrLK(prev, grey, prev_pts, None)
        ok = status.ravel() == 1
        if ok.sum() < 8:
            return None
        A, inliers = cv2.estimateAffinePartial2D(prev_pts[ok], pts[ok], method=cv2.RANSAC,
                                                 ransacReprojThreshold=1.5)
        if A is None or inliers is None or inliers.sum() < 8:
            return None
        A = A.astype(np.float64)
        A[:, 2] /= scale  # translation back to full-resolution pixels
        return A

    def reset(self) -> None:
        """Forget the previous frame."""
        self._prev = None
        self._prev_pts = None


def warp_tracks(mean: np.ndarray, var: np.ndarray, A: np.ndarray) -> None:
    """Apply a (2, 3) similarity `A` in place to (T, 8) cxcywh+velocity means and (T, 3, 4)
    covariance blocks. Variances scale by the squared zoom; the rotation is applied to the means
    only (frame-to-frame rotations are tiny, and this keeps the blocks uncoupled)."""
    if len(mean) == 0:
        return
    M = A[:, :2]
    s = float(np.sqrt(abs(np.linalg.det(M))))
    mean[:, 0:2] = mean[:, 0:2] @ M.T + A[:, 2]
    mean[:, 4:6] = mean[:, 4:6] @ M.T
    mean[:, 2:4] *= s
    mean[:, 6:8] *= s
    var *= s * s
