"""Building annotators from their configs and drawing a frame with a list of them."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from pipeline.detection_sets import in_sets
from pipeline.types import Detections, Packet
from stages.annotate.base import Annotator, AnnotatorConfig
from stages.annotate.blur import BlurAnnotator, BlurConfig
from stages.annotate.boxes import BoxAnnotator, BoxesConfig
from stages.annotate.config import parse_annotate
from stages.annotate.label import LabelAnnotator, LabelConfig
from stages.annotate.skeleton import SkeletonAnnotator, SkeletonConfig
from stages.annotate.zones import ZonesAnnotator, ZonesAnnotatorConfig

# config model -> annotator class
ANNOTATOR_CLASSES: dict[type[AnnotatorConfig], Callable[[Any], Annotator]] = {
    BoxesConfig: BoxAnnotator, SkeletonConfig: SkeletonAnnotator, LabelConfig: LabelAnnotator,
    BlurConfig: BlurAnnotator, ZonesAnnotatorConfig: ZonesAnnotator,
}


class _OnSets:
    """An annotator drawing only the rows of some detection sets."""

    def __init__(self, inner: Annotator, sets: Sequence[str]) -> None:
        self.inner, self.sets = inner, list(sets)

    def annotate(self, image: np.ndarray, detections: Detections) -> np.ndarray:
        return self.inner.annotate(image, in_sets(detections, self.sets))


def build_annotators(spec: bool | Sequence[AnnotatorConfig | dict[str, Any]]) -> list[Annotator]:
    """The annotators for an `annotate:` value (true, false, or configs / mappings in drawing order);
    one with `sets:` draws only those sets' rows."""
    out: list[Annotator] = []
    for config in parse_annotate(spec):
        annotator = ANNOTATOR_CLASSES[type(config)](config)
        out.append(annotator if config.sets is None else _OnSets(annotator, config.sets))
    return out


def annotate_frame(image: np.ndarray, detections: Detections, annotators: Sequence[Annotator],
                   overlays: Mapping[str, Any] | None = None) -> np.ndarray:
    """A copy of `image` with every annotator applied in order (the input is never changed);
    `overlays` (a packet's, e.g. the zones stage's lines and counts) go to annotators that draw them."""
    out = image.copy()
    for annotator in annotators:
        out = annotator.annotate(out, detections)
        draw = getattr(annotator, "annotate_overlays", None)
        if overlays and draw is not None:
            out = draw(out, overlays)
    return out


def annotate_key(spec: bool | Sequence[AnnotatorConfig | dict[str, Any]], overlays: bool = True) -> tuple[Any, ...]:
    """A hashable identity of an `annotate:` value: equal keys draw equal frames."""
    return (tuple(config.model_dump_json() for config in parse_annotate(spec)), overlays)


def annotate_packet(packet: Packet, annotators: Sequence[Annotator], key: tuple[Any, ...]) -> np.ndarray:
    """The packet's frame drawn by `annotators` (built from the value `key` names, see `annotate_key`), drawn
    once per packet: the video and clips sinks and the live preview share it when their settings agree
    (annotators draw from the packet alone). The array is read-only; any thread may call this (two
    drawing at once both draw, and one result is kept)."""
    if not packet.overlays:
        key = (key[0], True)  # nothing to overlay: with and without overlays draw the same
    image = packet.drawn.get(key)
    if image is None:
        image = annotate_frame(packet.frame.image, packet.detections, annotators,
                               packet.overlays if key[1] else None)
        image.flags.writeable = False
        packet.drawn[key] = image
    return image
