"""What the video sink's `annotate:` key accepts: true (today's look), false, or a list of annotators."""

from __future__ import annotations

import difflib
from typing import Annotated, Any

from pydantic import Field, ValidationError
from pydantic_core import InitErrorDetails

from stages.annotate.base import AnnotatorConfig
from stages.annotate.blur import BlurConfig
from stages.annotate.boxes import BoxesConfig
from stages.annotate.label import LabelConfig
from stages.annotate.skeleton import SkeletonConfig
from stages.annotate.zones import ZonesAnnotatorConfig

AnnotatorConfigUnion = BoxesConfig | SkeletonConfig | LabelConfig | BlurConfig | ZonesAnnotatorConfig
# The declared type of `annotate:` (what editors complete); `parse_annotate` does the validating.
AnnotateSpec = bool | list[Annotated[AnnotatorConfigUnion, Field(discriminator="type")]]

# config `type:` -> config model
ANNOTATOR_CONFIGS: dict[str, type[AnnotatorConfig]] = {
    "boxes": BoxesConfig, "skeleton": SkeletonConfig, "label": LabelConfig, "blur": BlurConfig,
    "zones": ZonesAnnotatorConfig}

EXAMPLE = "[{type: blur, what: persons}, {type: boxes}, {type: label, text: '{track_id}'}]"


def default_annotators() -> list[AnnotatorConfig]:
    """What `annotate: true` draws: zones stages' lines and zones with their counts (nothing without one),
    boxes, skeletons and '{track_id} {class_name} {score:.2f}' labels."""
    return [ZonesAnnotatorConfig(), BoxesConfig(), SkeletonConfig(), LabelConfig()]


def parse_annotate(value: Any) -> list[AnnotatorConfig]:
    """`annotate:` as written -> the annotator configs, in drawing order.

    Raises:
        ValidationError: locations relative to `annotate` (`1.text`), each message saying what is
            wrong and what would be right (unknown type or key with a suggestion, the valid types).
    """
    if isinstance(value, bool):
        return default_annotators() if value else []
    if not isinstance(value, list | tuple):
        raise ValueError(f"expected true, false or a list of annotators, e.g. {EXAMPLE}")
    configs: list[AnnotatorConfig] = []
    errors: list[InitErrorDetails] = []
    for i, item in enumerate(value):
        try:
            configs.append(_parse_one(item))
        except _ItemError as exc:
            errors.append(_value_error((i, *exc.loc), str(exc), item))
        except ValidationError as exc:
            errors += [_relocated(err, i, ANNOTATOR_CONFIGS[item["type"]]) for err in exc.errors()]
    if errors:
        raise ValidationError.from_exception_data("annotate", errors)
    return configs


class _ItemError(ValueError):
    """A list item that is not an annotator at all; `loc` is relative to the item."""

    def __init__(self, message: str, loc: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.loc = loc


def _parse_one(item: Any) -> AnnotatorConfig:
    if isinstance(item, AnnotatorConfig):
        return item
    valid = f"valid types: {', '.join(ANNOTATOR_CONFIGS)}"
    if not isinstance(item, dict):
        raise _ItemError(f"expected a mapping like {{type: boxes}}, got {item!r}; {valid}")
    if "type" not in item:
        raise _ItemError(f"missing 'type'; {valid}")
    model = ANNOTATOR_CONFIGS.get(item["type"]) if isinstance(item["type"], str) else None
    if model is None:
        raise _ItemError(f"unknown annotator type {item['type']!r}{_did_you_mean(item['type'], ANNOTATOR_CONFIGS)}; "
                         f"{valid}", ("type",))
    return model.model_validate(item)


def _relocated(err: Any, index: int, model: type[AnnotatorConfig]) -> InitErrorDetails:
    """One pydantic error of item `index`, its loc made relative to `annotate`; unknown keys get a suggestion."""
    loc = (index, *err["loc"])
    if err["type"] == "extra_forbidden":
        key = err["loc"][-1]
        return _value_error(loc, f"unknown key '{key}'{_did_you_mean(key, model.model_fields)}; "
                                 f"'{model.model_fields['type'].default}' takes: "
                                 f"{', '.join(k for k in model.model_fields if k != 'type') or 'no other keys'}",
                            err["input"])
    details: InitErrorDetails = {"type": err["type"], "loc": loc, "input": err["input"]}
    if "ctx" in err:
        details["ctx"] = err["ctx"]
    return details


def _value_error(loc: tuple[Any, ...], message: str, value: Any) -> InitErrorDetails:
    return {"type": "value_error", "loc": loc, "input": value, "ctx": {"error": ValueError(message)}}


def _did_you_mean(word: Any, choices: Any) -> str:
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.5)
    return f" (did you mean '{close[0]}'?)" if close else ""
