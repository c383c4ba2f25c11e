"""Quality gates for a face before it may vote or be enrolled: size, detector score, frontal
landmarks, sharpness. Each returns a reason when it fails, so enrolment can say why in one line.

Sharpness is the variance of the Laplacian of the aligned crop resampled to 64 px (so a large face
and a small one are judged at the same scale), on grey levels 0-255. Frontal: the nose must sit
between the eyes horizontally (a yaw proxy: its offset from the eye midpoint, over the eye
distance) and the eyes must be roughly level.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True, slots=True)
class Gates:
    min_face_px: int = 32
    min_score: float = 0.9
    max_yaw: float = 0.35
    max_roll_deg: float = 30.0
    min_sharpness: float = 100.0


def face_width(box: np.ndarray) -> float:
    return float(box[2] - box[0])


def yaw(landmarks: np.ndarray) -> float:
    """|nose offset from the eye midpoint| / eye distance (0 = frontal, ~0.5 = a profile)."""
    left, right, nose = landmarks[0], landmarks[1], landmarks[2]
    eye_dist = float(np.linalg.norm(right - left))
    if eye_dist < 1e-6:
        return 1.0
    axis = (right - left) / eye_dist
    return abs(float(np.dot(nose - (left + right) / 2, axis))) / eye_dist


def roll_deg(landmarks: np.ndarray) -> float:
    d = landmarks[1] - landmarks[0]
    return abs(float(np.degrees(np.arctan2(d[1], d[0]))))


def sharpness(aligned_bgr: np.ndarray) -> float:
    grey = cv2.cvtColor(aligned_bgr, cv2.COLOR_BGR2GRAY)
    small = cv2.resize(grey, (64, 64), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(small, cv2.CV_32F).var())


def problem(gates: Gates, box: np.ndarray, score: float, landmarks: np.ndarray, aligned: np.ndarray) -> str | None:
    """Why this face must not count (None when it passes every gate)."""
    width = face_width(box)
    if width < gates.min_face_px:
        return f"face too small ({width:.0f} px wide, minimum {gates.min_face_px})"
    if score < gates.min_score:
        return f"face detection too uncertain (score {score:.2f}, minimum {gates.min_score})"
    if yaw(landmarks) > gates.max_yaw or roll_deg(landmarks) > gates.max_roll_deg:
        return "face not frontal enough"
    sharp = sharpness(aligned)
    if sharp < gates.min_sharpness:
        return f"face too blurred (sharpness {sharp:.0f}, minimum {gates.min_sharpness:.0f})"
    return None


def weight(gates: Gates, box: np.ndarray, score: float, landmarks: np.ndarray) -> float:
    """A vote weight in (0, 1]: larger, surer, more frontal faces count more."""
    size = min(1.0, face_width(box) / (3.0 * gates.min_face_px))
    front = max(0.0, 1.0 - yaw(landmarks) / max(gates.max_yaw, 1e-6) * 0.5)
    return float(max(0.05, size * score * front))
