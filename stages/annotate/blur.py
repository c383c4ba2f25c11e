"""`type: blur`: make regions unrecognisable (privacy), e.g. every person before the boxes are drawn."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import cv2
import numpy as np
from pydantic import Field

from pipeline.types import Detections
from stages.annotate.base import AnnotatorConfig
from stages.faces.head import head_boxes

PERSON_CLASS = 0  # COCO and every pose model

# What can be blurred: name -> the (M, 4) frame-pixel boxes of those regions.
BlurTarget = Literal["persons", "faces", "unknown_faces"]


def _persons(detections: Detections) -> np.ndarray:
    return detections.xyxy[detections.class_id == PERSON_CLASS]


def _faces(detections: Detections) -> np.ndarray:
    """Every person's head region (pose keypoints, else the top of the box): drawn from the person
    row every frame, so a face is hidden also on frames where no face was looked for or found."""
    return head_boxes(detections)[detections.class_id == PERSON_CLASS]


def _unknown_faces(detections: Detections) -> np.ndarray:
    """Head regions of every person not named by the face stage (`identity` missing, None or
    unknown): enrolled people stay visible, strangers and not-yet-recognised people are hidden."""
    identity = detections.column("identity")
    person = detections.class_id == PERSON_CLASS
    if identity is None:
        return head_boxes(detections)[person]
    named = np.array([isinstance(v, str) and v not in ("", "unknown") for v in identity], dtype=bool)
    return head_boxes(detections)[person & ~named]


REGIONS: dict[str, Callable[[Detections], np.ndarray]] = {
    "persons": _persons, "faces": _faces, "unknown_faces": _unknown_faces}


class BlurConfig(AnnotatorConfig):
    """Blur or pixelate regions of the frame; list it before the annotators that should stay sharp."""

    type: Literal["blur"] = "blur"
    what: BlurTarget = Field("persons", description="Regions to blur: persons = the box of every person "
                             "detection (class 0); faces = every person's head region (pose keypoints, else "
                             "the top of the box); unknown_faces = the head of every person the face stage "
                             "has not named (enrolled people stay visible).")
    style: Literal["blur", "pixelate"] = Field("blur", description="blur: smooth; pixelate: square blocks.")
    cells: int = Field(8, ge=1, le=64, description="Detail kept: each region is reduced to about this many "
                       "cells across its shorter side, then scaled back up (fewer = stronger). At 8 a person's "
                       "face is 2-3 cells wide: unrecognisable.")


class BlurAnnotator:
    """Shrinks each region (area averaging) and scales it back: cost independent of the blur strength."""

    def __init__(self, config: BlurConfig | None = None) -> None:
        self.config = config or BlurConfig()
        self.regions = REGIONS[self.config.what]
        self.upscale = cv2.INTER_NEAREST if self.config.style == "pixelate" else cv2.INTER_LINEAR

    def annotate(self, image: np.ndarray, detections: Detections) -> np.ndarray:
        height, width = image.shape[:2]
        boxes = self.regions(detections)
        for x1, y1, x2, y2 in boxes[np.isfinite(boxes).all(axis=1)]:
            left, top = max(0, int(np.floor(x1))), max(0, int(np.floor(y1)))  # cover every touched pixel
            right, bottom = min(width, int(np.ceil(x2))), min(height, int(np.ceil(y2)))
            if right - left >= 2 and bottom - top >= 2:
                self._blur(image[top:bottom, left:right])
        return image

    def _blur(self, region: np.ndarray) -> None:
        h, w = region.shape[:2]
        scale = min(1.0, self.config.cells / min(w, h))
        small = cv2.resize(region, (max(1, round(w * scale)), max(1, round(h * scale))),
                           interpolation=cv2.INTER_AREA)
        region[:] = cv2.resize(small, (w, h), interpolation=self.upscale)
