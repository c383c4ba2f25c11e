"""Building annotators from their configs and drawing a frame with a list of them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from pipeline.types import Detections
from stages.annotate.base import Annotator, AnnotatorConfig
from stages.annotate.blur import BlurAnnotator, BlurConfig
from stages.annotate.boxes import BoxAnnotator, BoxesConfig
from stages.annotate.config import parse_annotate
from stages.annotate.label import LabelAnnotator, LabelConfig
from stages.annotate.skeleton import SkeletonAnnotator, SkeletonConfig

# config model -> annotator class
ANNOTATOR_CLASSES: dict[type[AnnotatorConfig], Callable[[Any], Annotator]] = {
    BoxesConfig: BoxAnnotator, SkeletonConfig: SkeletonAnnotator, LabelConfig: LabelAnnotator,
    BlurConfig: BlurAnnotator,
}


def build_annotators(spec: bool | Sequence[AnnotatorConfig | dict[str, Any]]) -> list[Annotator]:
    """The annotators for an `annotate:` value (true, false, or configs / mappings in drawing order)."""
    return [ANNOTATOR_CLASSES[type(config)](config) for config in parse_annotate(spec)]


def annotate_frame(image: np.ndarray, detections: Detections, annotators: Sequence[Annotator]) -> np.ndarray:
    """A copy of `image` with every annotator applied in order (the input is never changed)."""
    out = image.copy()
    for annotator in annotators:
        out = annotator.annotate(out, detections)
    return out
