"""`type: label`: a text template over a detection's columns, drawn above its box."""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np
from pydantic import Field, field_validator

from pipeline.types import Detections
from stages.annotate.base import AnnotatorConfig
from stages.annotate.style import line_thickness, row_colors
from stages.annotate.template import FIELDS, Template, parse

DEFAULT_TEXT = "{track_id} {class_name} {score:.2f}"
FONT = cv2.FONT_HERSHEY_SIMPLEX
TEXT_COLOR = (0, 0, 0)


class LabelConfig(AnnotatorConfig):
    """Text above each box, on a background in the track colour."""

    type: Literal["label"] = "label"
    text: str = Field(DEFAULT_TEXT, description="Template over the detection's columns, Python format style: "
                      "{track_id}, {score:.2f}, {identity}, {action}, ... (fields: " + ", ".join(FIELDS) +
                      "). A field whose column is absent or empty on a row is left out (so is track_id on an "
                      "untracked row); no label where all are.")

    @field_validator("text")
    @classmethod
    def _parses(cls, text: str) -> str:
        parse(text)
        return text


class LabelAnnotator:
    """Renders the template for each row and draws it in the box's top-left corner (kept inside the frame)."""

    def __init__(self, config: LabelConfig | None = None) -> None:
        self.config = config or LabelConfig()
        self.template = Template(self.config.text)

    def annotate(self, image: np.ndarray, detections: Detections) -> np.ndarray:
        if not len(detections):
            return image
        thickness = line_thickness(image)
        columns = {name: detections.column(name) for name in self.template.fields}
        for i, color in enumerate(row_colors(detections)):
            text = self.template.render({name: None if col is None else col[i] for name, col in columns.items()})
            if text is not None:
                _draw_label(image, text, detections.xyxy[i], color, thickness)
        return image


def _draw_label(image: np.ndarray, text: str, box: np.ndarray, color: tuple[int, int, int], thickness: int) -> None:
    scale = 0.5 * thickness
    x1, y1 = round(box[0]), round(box[1])
    (tw, th), _ = cv2.getTextSize(text, FONT, scale, thickness)
    top = max(y1, th + 4)
    cv2.rectangle(image, (x1, top - th - 4), (x1 + tw + 4, top), color, -1)
    cv2.putText(image, text, (x1 + 2, top - 3), FONT, scale, TEXT_COLOR, thickness, cv2.LINE_AA)
