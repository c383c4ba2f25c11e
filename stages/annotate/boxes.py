"""`type: boxes`: the outline of every detection box."""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np

from pipeline.types import Detections
from stages.annotate.base import AnnotatorConfig
from stages.annotate.style import line_thickness, row_colors


class BoxesConfig(AnnotatorConfig):
    """The box of every detection, coloured by track id (grey when untracked)."""

    type: Literal["boxes"] = "boxes"


class BoxAnnotator:
    """Draws each row's box outline in its track colour."""

    def __init__(self, config: BoxesConfig | None = None) -> None:
        self.config = config or BoxesConfig()

    def annotate(self, image: np.ndarray, detections: Detections) -> np.ndarray:
        thickness = line_thickness(image)
        for i, color in enumerate(row_colors(detections)):
            x1, y1, x2, y2 = (round(v) for v in detections.xyxy[i])
            cv2.rectangle(image, (x1, y1), (x2, y2), color, thickness, cv2.LINE_AA)
        return image
