"""Drawing of detections on a frame: boxes coloured by track id, 17-keypoint skeletons, labels."""

from __future__ import annotations

import cv2
import numpy as np

from pipeline.types import Detections

# COCO-17 keypoint pairs: head, arms, torso, legs.
SKELETON = (
    (0, 1), (0, 2), (1, 3), (2, 4), (5, 6), (5, 7), (7, 9), (6, 8), (8, 10),
    (5, 11), (6, 12), (11, 12), (11, 13), (13, 15), (12, 14), (14, 16),
)
KEYPOINT_MIN_CONF = 0.5
UNTRACKED = (160, 160, 160)


def track_color(track_id: int) -> tuple[int, int, int]:
    """A stable, well-separated BGR colour per track id (golden-ratio hue steps)."""
    hue = int((track_id * 0.618033988749895 % 1.0) * 179)
    bgr = cv2.cvtColor(np.uint8([[[hue, 200, 255]]]), cv2.COLOR_HSV2BGR)[0, 0]
    return int(bgr[0]), int(bgr[1]), int(bgr[2])


def draw_detections(image: np.ndarray, detections: Detections) -> np.ndarray:
    """Draw on `image` in place (H, W, 3 uint8 BGR) and return it."""
    thickness = max(1, round(min(image.shape[:2]) / 360))
    for i in range(len(detections)):
        track_id = int(detections.track_id[i]) if detections.track_id is not None else -1
        color = track_color(track_id) if track_id >= 0 else UNTRACKED
        x1, y1, x2, y2 = (round(v) for v in detections.xyxy[i])
        cv2.rectangle(image, (x1, y1), (x2, y2), color, thickness, cv2.LINE_AA)
        if detections.keypoints is not None:
            _draw_skeleton(image, detections.keypoints[i], color, thickness)
        label = f"{track_id} {detections.score[i]:.2f}" if track_id >= 0 else f"{detections.score[i]:.2f}"
        (tw, th), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.5 * thickness, thickness)
        top = max(y1, th + 4)
        cv2.rectangle(image, (x1, top - th - 4), (x1 + tw + 4, top), color, -1)
        cv2.putText(image, label, (x1 + 2, top - 3), cv2.FONT_HERSHEY_SIMPLEX, 0.5 * thickness, (0, 0, 0),
                    thickness, cv2.LINE_AA)
    return image


def _draw_skeleton(image: np.ndarray, keypoints: np.ndarray, color: tuple[int, int, int], thickness: int) -> None:
    visible = keypoints[:, 2] >= KEYPOINT_MIN_CONF
    points = keypoints[:, :2].round().astype(np.int32)
    if len(keypoints) == len(SKELETON) + 1:  # COCO-17
        for a, b in SKELETON:
            if visible[a] and visible[b]:
                cv2.line(image, tuple(points[a]), tuple(points[b]), color, thickness, cv2.LINE_AA)
    for (x, y), ok in zip(points, visible, strict=True):
        if ok:
            cv2.circle(image, (int(x), int(y)), thickness + 2, (255, 255, 255), -1, cv2.LINE_AA)
