"""Camera-motion compensation: the estimated shift of a translated frame, and warping tracks."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from pipeline.types import Detections
from stages.tracking import make_tracker
from stages.tracking.cmc import CameraMotion, warp_tracks


def _texture(h: int = 240, w: int = 320) -> np.ndarray:
    rng = np.random.default_rng(0)
    small = rng.integers(0, 255, (h // 8, w // 8, 3), dtype=np.uint8)
    return cv2.GaussianBlur(cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST), (5, 5), 0)


def _shift(image: np.ndarray, dx: float, dy: float) -> np.ndarray:
    return cv2.warpAffine(image, np.float32([[1, 0, dx], [0, 1, dy]]), image.shape[1::-1],
                          borderMode=cv2.BORDER_REFLECT)


def test_tracking_cmc_estimates_translation() -> None:
    image = _texture()
    cm = CameraMotion()
    assert cm.estimate(image) is None  # first frame: nothing to compare with
    A = cm.estimate(_shift(image, 9, -5))
    assert A is not None
    np.testing.assert_allclose(A[:, 2], [9, -5], atol=0.5)
    np.testing.assert_allclose(A[:, :2], np.eye(2), atol=0.02)


def test_tracking_cmc_warp_moves_means_and_scales_variance() -> None:
    mean = np.array([[100.0, 50, 20, 40, 1, 0, 0, 0]])
    var = np.ones((1, 3, 4))
    warp_tracks(mean, var, np.array([[2.0, 0, 10], [0, 2.0, -5]]))
    np.testing.assert_allclose(mean[0], [210, 95, 40, 80, 2, 0, 0, 0])
    np.testing.assert_allclose(var, 4.0)


def test_tracking_cmc_keeps_ids_under_camera_pan() -> None:
    """The camera pans 30 px per frame while the person stands still in the world."""
    base = _texture(360, 1200)
    with_cmc, without = make_tracker("argus"), make_tracker("argus", cmc=False)
    ids: dict[str, list[int]] = {"cmc": [], "plain": []}
    for f in range(12):
        x = 500 - 30 * f  # where the person appears in the image
        frame = np.ascontiguousarray(base[:, 30 * f: 30 * f + 640])
        det = Detections(xyxy=np.array([[x, 100, x + 20, 160]], np.float32),
                         score=np.array([0.9], np.float32), class_id=np.zeros(1, np.int32))
        ids["cmc"].append(int(with_cmc.update(det, f, image=frame).track_id[0]))
        ids["plain"].append(int(without.update(det, f).track_id[0]))
    assert ids["cmc"] == [1] * 12
    assert len(set(ids["plain"])) > 1  # without compensation the narrow box loses its track


@pytest.mark.parametrize("dt", [1.0, 2.0])
def test_tracking_cmc_not_used_without_image(dt: float) -> None:
    tracker = make_tracker("argus")
    det = Detections(xyxy=np.array([[0, 0, 10, 10]], np.float32), score=np.array([0.9], np.float32),
                     class_id=np.zeros(1, np.int32))
    assert tracker.update(det, 0, dt).track_id.tolist() == [1]
