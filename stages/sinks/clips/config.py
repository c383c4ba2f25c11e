"""The `clips` sink's config: triggers, pre/post roll, split length, drawing, retention.

`run.py check` validates triggers against the registered event types: `load_config` passes its
registry in the validation context (`{"registry": ...}`). An unknown event type is an error listing
the registered ones; a `where` key that the type's `EventTypeSpec.fields` never carries is a
warning (logged once), since plugins may add payload keys their spec does not list.
"""

from __future__ import annotations

import logging
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from pipeline.stage import StageConfig
from stages.annotate import AnnotateSpec, parse_annotate
from stages.sinks.clips.events import CLIP_SAVED

log = logging.getLogger("argus")
Scalar = str | int | float | bool | None
_warned: set[str] = set()  # a warning is logged once per process (configs are validated more than once)


class TriggerConfig(BaseModel):
    """One event that starts (or extends) a clip."""

    model_config = ConfigDict(extra="forbid")

    event: str = Field(description="An event type, e.g. action_started, zone_entered, track_started.")
    where: dict[str, Scalar] = Field(default_factory=dict, description="Payload fields the event must "
                                     "carry with exactly these values, e.g. {label: falling}; empty: any.")


class RetainConfig(BaseModel):
    """How long clips are kept: the oldest closed clips are deleted first past either limit."""

    model_config = ConfigDict(extra="forbid")

    days: float | None = Field(7.0, gt=0, description="Delete clips that started longer ago; null: no limit.")
    max_gb: float | None = Field(20.0, gt=0, description="Keep the clips' files under this many GB (10^9 bytes; "
                                 "a clip being written is never deleted); null: no limit.")


class ClipsSinkConfig(StageConfig):
    """Event clips: one fragmented H.264 MP4 per clip, with pre-roll, an index (`clips.jsonl`), thumbnails,
    a `clip_saved` event and retention."""

    type: Literal["clips"] = "clips"
    dir: str = Field("clips", description="Folder under output_dir for the clips, thumbnails and clips.jsonl.")
    trigger: list[TriggerConfig] = Field(min_length=1, description="Events that start a clip, e.g. "
                                         "[{event: action_started, where: {label: falling}}]; a trigger while "
                                         "a clip of that source is open extends it.")
    pre_s: float = Field(5.0, ge=0, le=60, description="Seconds kept before the trigger (from the event's "
                         "`start_pts_s` when it has one, e.g. actions); the clip starts at the keyframe at "
                         "or before that time, where the stream has that much.")
    post_s: float = Field(5.0, ge=0, le=600, description="Seconds recorded after the last trigger.")
    max_s: float = Field(60.0, ge=4, le=3600, description="Longer clips are split (at a keyframe) into parts "
                         "of at most this long.")
    annotate: AnnotateSpec = Field(
        True, validate_default=True,
        description="What to draw, as the video sink's `annotate:` (true, false or a list of annotators). "
        "false re-encodes the frames as decoded: the camera's own H.264 packets are not kept by the readers, "
        "so they cannot be copied.")
    retain: RetainConfig = Field(default_factory=RetainConfig, description="{days, max_gb}: retention.")
    crf: int = Field(23, ge=0, le=51, description="H.264 quality (lower = better, bigger).")
    preset: Literal["ultrafast", "superfast", "veryfast", "faster", "fast", "medium"] = Field(
        "superfast", description="x264 preset of the encoder each source runs while the sink is on (superfast: "
        "7-10 ms per 720p frame on one core; ultrafast is cheaper and bigger, veryfast dearer and smaller).")
    keyframe_s: float = Field(1.0, gt=0, le=10, description="Keyframe interval: a clip starts and splits at "
                              "keyframes, so pre-roll can exceed pre_s by up to this much.")

    _annotators = field_validator("annotate", mode="before")(parse_annotate)

    @field_validator("trigger")
    @classmethod
    def _known_events(cls, triggers: list[TriggerConfig], info: ValidationInfo) -> list[TriggerConfig]:
        registry = (info.context or {}).get("registry")
        for i, trigger in enumerate(triggers):
            if trigger.event == CLIP_SAVED:
                raise ValueError(f"{i}.event: '{CLIP_SAVED}' cannot trigger a clip (each clip would start another)")
            if registry is None:
                continue
            spec = registry.event_types.get(trigger.event)
            if spec is None:
                raise ValueError(f"{i}.event: unknown event type '{trigger.event}'; registered event types: "
                                 f"{', '.join(sorted(registry.event_types))}")
            for key in trigger.where:
                if key not in spec.fields:
                    _warn_once(f"clips trigger {i} ({trigger.event}): '{key}' is not a field of "
                               f"'{trigger.event}' events (fields: {', '.join(spec.fields) or 'none'}); "
                               "it matches only if a plugin adds it to the payload")
        return triggers


    @model_validator(mode="after")
    def _split_room(self) -> ClipsSinkConfig:
        if self.keyframe_s * 2 > self.max_s:
            raise ValueError(f"keyframe_s ({self.keyframe_s:g}) must be at most half of max_s ({self.max_s:g}): "
                             "clips are split at keyframes")
        return self


def _warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        log.warning("%s", message)
