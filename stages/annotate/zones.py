"""`type: zones`: the lines and zones of `zones` stages with their counts, as of the frame drawn.

It reads what each zones stage published on the packet (`packet.overlays`): a line is drawn with an
arrow towards its `in` side and `in N out M`; a zone is outlined, lightly filled, and labelled with
`now N / total M`. Frames with no zones stage draw nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import cv2
import numpy as np
from pydantic import Field

from pipeline.types import Detections
from stages.annotate.base import AnnotatorConfig
from stages.annotate.style import line_thickness

LINE_COLOR = (0, 215, 255)  # BGR amber
ZONE_COLOR = (255, 160, 0)  # BGR azure
FONT = cv2.FONT_HERSHEY_SIMPLEX


class ZonesAnnotatorConfig(AnnotatorConfig):
    """Lines and zones of the zones stages, with their counts."""

    type: Literal["zones"] = "zones"
    stages: list[str] | None = Field(None, description="Zones stages drawn, by id; null: every one.")
    fill: float = Field(0.15, ge=0.0, le=1.0, description="Opacity of a zone's fill (0: outline only).")
    counts: bool = Field(True, description="Write the counts beside each line and zone.")


class ZonesAnnotator:
    """Draws the overlays zones stages put on the packet (see the module doc)."""

    def __init__(self, config: ZonesAnnotatorConfig | None = None) -> None:
        self.config = config or ZonesAnnotatorConfig()

    def annotate(self, image: np.ndarray, detections: Detections) -> np.ndarray:
        """Rows are not drawn: everything comes from `annotate_overlays`."""
        return image

    def annotate_overlays(self, image: np.ndarray, overlays: Mapping[str, Any]) -> np.ndarray:
        thickness = line_thickness(image)
        wanted = self.config.stages
        for stage_id, overlay in overlays.items():
            if overlay.get("kind") != "zones" or (wanted is not None and stage_id not in wanted):
                continue
            for zone in overlay["zones"]:
                self._zone(image, zone, thickness)
            for line in overlay["lines"]:
                self._line(image, line, thickness)
        return image

    def _zone(self, image: np.ndarray, zone: Mapping[str, Any], thickness: int) -> None:
        poly = np.round(np.asarray(zone["polygon"], np.float64)).astype(np.int32)
        if self.config.fill > 0:
            x, y, w, h = cv2.boundingRect(poly)
            x0, y0 = max(x, 0), max(y, 0)
            x1, y1 = min(x + w, image.shape[1]), min(y + h, image.shape[0])
            if x1 > x0 and y1 > y0:
                region = image[y0:y1, x0:x1]
                mask = np.zeros(region.shape[:2], np.uint8)
                cv2.fillPoly(mask, [poly - [x0, y0]], 255)
                tint = np.empty_like(region)
                tint[:] = ZONE_COLOR
                blended = cv2.addWeighted(region, 1 - self.config.fill, tint, self.config.fill, 0)
                region[mask > 0] = blended[mask > 0]
        cv2.polylines(image, [poly], True, ZONE_COLOR, thickness, cv2.LINE_AA)
        text = f"{zone['id']} now {zone['current']} / {zone['total']}" if self.config.counts else str(zone["id"])
        top = poly[np.argmin(poly[:, 1])]
        _text(image, text, (int(top[0]), int(top[1])), ZONE_COLOR, thickness)

    def _line(self, image: np.ndarray, line: Mapping[str, Any], thickness: int) -> None:
        (ax, ay), (bx, by) = line["points"]
        a, b = (round(ax), round(ay)), (round(bx), round(by))
        cv2.line(image, a, b, LINE_COLOR, 2 * thickness, cv2.LINE_AA)
        mid = np.array([(ax + bx) / 2, (ay + by) / 2])
        normal = np.array([-(by - ay), bx - ax], np.float64)  # towards the right-hand (`in`) side on the image
        normal *= 20.0 * thickness / max(float(np.hypot(*normal)), 1e-9)
        tip = mid + normal
        cv2.arrowedLine(image, (round(mid[0]), round(mid[1])), (round(tip[0]), round(tip[1])), LINE_COLOR,
                        thickness, cv2.LINE_AA, tipLength=0.4)
        text = f"{line['id']} in {line['in']} out {line['out']}" if self.config.counts else str(line["id"])
        _text(image, text, a, LINE_COLOR, thickness)


def _text(image: np.ndarray, text: str, at: tuple[int, int], color: tuple[int, int, int], thickness: int) -> None:
    """Text on a coloured background, its top-left near `at`, kept inside the image."""
    scale = 0.5 * thickness
    (tw, th), _ = cv2.getTextSize(text, FONT, scale, thickness)
    x = min(max(at[0], 0), max(image.shape[1] - tw - 4, 0))
    y = min(max(at[1], th + 4), image.shape[0])
    cv2.rectangle(image, (x, y - th - 4), (x + tw + 4, y), color, -1)
    cv2.putText(image, text, (x + 2, y - 3), FONT, scale, (0, 0, 0), thickness, cv2.LINE_AA)
