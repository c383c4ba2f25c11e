"""Annotation the user composes: annotator objects, each drawing one kind of mark, applied in order.

In the style of supervision's annotators: every annotator has a config model (`type:` plus its
settings) and an `annotate(image, detections) -> image` that draws in place. `annotate_frame`
copies a frame once and applies a list of them (with the packet's `overlays` for annotators that
draw them, e.g. `zones`); `build_annotators` turns the video sink's
`annotate:` value into that list (true = boxes, skeleton, "{track_id} {class_name} {score:.2f}" labels: the
look Argus always had; false = nothing).

Why annotators are a setting of the video sink and not a pipeline stage:
  - drawing belongs to an output: one run can keep an unblurred archive and publish a blurred
    preview (two video sinks, two lists), which a single stage rewriting `frame.image` cannot;
  - stages stay free of drawing, so no model, tracker or later stage ever sees drawn pixels
    (a blurred face would not be recognised, a drawn box would disturb the tracker's appearance
    features), and the detections/events outputs are the same whatever is drawn;
  - only frames that are actually encoded pay for drawing, on a copy of the frame; outputs with the same
    `annotate:` value (video and clips sinks, the live preview) share one drawing per packet
    (`annotate_packet`).
"""

from stages.annotate.base import Annotator, AnnotatorConfig
from stages.annotate.blur import BlurAnnotator, BlurConfig
from stages.annotate.boxes import BoxAnnotator, BoxesConfig
from stages.annotate.compose import ANNOTATOR_CLASSES, annotate_frame, annotate_key, annotate_packet, build_annotators
from stages.annotate.config import (
    ANNOTATOR_CONFIGS,
    AnnotateSpec,
    AnnotatorConfigUnion,
    default_annotators,
    parse_annotate,
)
from stages.annotate.label import LabelAnnotator, LabelConfig
from stages.annotate.skeleton import SkeletonAnnotator, SkeletonConfig
from stages.annotate.style import UNTRACKED, track_color
from stages.annotate.zones import ZonesAnnotator, ZonesAnnotatorConfig

__all__ = [
    "ANNOTATOR_CLASSES", "ANNOTATOR_CONFIGS", "UNTRACKED", "AnnotateSpec", "Annotator", "AnnotatorConfig",
    "AnnotatorConfigUnion", "BlurAnnotator", "BlurConfig", "BoxAnnotator", "BoxesConfig", "LabelAnnotator",
    "LabelConfig", "SkeletonAnnotator", "SkeletonConfig", "ZonesAnnotator", "ZonesAnnotatorConfig",
    "annotate_frame", "annotate_key", "annotate_packet", "build_annotators", "default_annotators", "parse_annotate",
    "track_color",
]
