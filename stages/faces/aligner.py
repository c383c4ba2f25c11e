"""Face alignment: a similarity transform (rotation, uniform scale, shift) that puts the 5
landmarks on a fixed template, then one warp to the embedder's input size.

The template is the usual 5-point face template (eyes, nose, mouth corners on a 112 px face) scaled
into the 160 px FaceNet input with a margin (`MARGIN`): FaceNet-512 was trained on loose crops (a
detector box plus a border), so a tight crop loses the face outline it learnt from. The margin was
picked on the training photos of data/faces only (match / non-match distance gap), never on test/.
"""

from __future__ import annotations

import cv2
import numpy as np

TEMPLATE_112 = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                         [41.5493, 92.3655], [70.7299, 92.2041]], dtype=np.float32)
MARGIN = 0.9  # template scale relative to filling the crop (1.0 = the 112 px template stretched to it)


def template(size: int = 160, margin: float = MARGIN) -> np.ndarray:
    """The 5 landmark positions in a size x size aligned crop."""
    return ((TEMPLATE_112 - 56.0) * (size / 112.0) * margin + size / 2).astype(np.float32)


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 2x3 least-squares similarity transform taking points `src` (K, 2) onto `dst` (Umeyama)."""
    src = src.astype(np.float64)
    dst = dst.astype(np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    cov = d.T @ s / len(src)
    u, sig, vt = np.linalg.svd(cov)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1
    rot = u @ sign @ vt
    var = (s ** 2).sum() / len(src)
    scale = (sig * np.diag(sign)).sum() / max(var, 1e-12)
    m = np.zeros((2, 3))
    m[:, :2] = scale * rot
    m[:, 2] = mu_d - scale * rot @ mu_s
    return m


def align(image: np.ndarray, landmarks: np.ndarray, size: int = 160, margin: float = MARGIN) -> np.ndarray:
    """The size x size BGR crop of `image` with `landmarks` (5, 2) on the template."""
    m = similarity(landmarks, template(size, margin))
    return cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
