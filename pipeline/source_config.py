"""Source configs: the keys every source has, and the choice of a kind's own config model.

Each source kind (video file, glob, image folder, webcam, RTSP, demo, or a plugin's) registers a
config model that subclasses `SourceConfig` and declares `kind: Literal["<kind>"] = "<kind>"`
(`Registry.add_source`). An entry of `sources:` is validated by the model of its `kind:`; with no
`kind:` (or `kind: auto`) the registry picks it from the URI (`Registry.source_kind_for`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, TypeAdapter, ValidationError, model_validator

from pipeline.errors import ConfigError
from pipeline.motion import MotionConfig, MotionSetting, motion_setting

if TYPE_CHECKING:
    from pipeline.registry import Registry

AUTO = "auto"
UNKNOWN_KIND = "source_kind"  # the error type of an entry whose kind is not registered


class SourceConfig(BaseModel):
    """One input stream: the keys of every kind (a kind's model adds its own)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="Name used in outputs, events and logs.")
    uri: str = Field(description="Video file, glob ('clips/*.mp4'), image folder, webcam index ('0'), "
                                 "rtsp:// URL, 'demo' (the built-in clip), or any URI a source plugin reads.")
    kind: str = Field(AUTO, description="How to read `uri` (a registered source kind); 'auto' picks it from "
                                        "the URI's scheme or shape.")
    max_frames: int | None = Field(None, ge=1, description="Stop after this many frames.")
    frame_interval: int = Field(1, ge=1, description="Process every N-th decoded frame.")
    queue_size: int = Field(8, ge=1, le=1024, description="Frames buffered between reader and pipeline. "
                            "Live sources drop the oldest when full; files wait.")
    motion: MotionSetting | None = Field(None, description="Motion gating: the model stages and the "
                                               "tracker skip frames where nothing moved, which keep the rows of "
                                               "the last frame they ran on. true, false, or {threshold, min_area, "
                                               "mask, max_still_s}; left out: on for live cameras (RTSP, webcam), "
                                               "off for files, folders and the demo.")

    motion_default: ClassVar[bool] = False  # a kind's `motion:` when left out (live kinds: True)

    def motion_settings(self) -> MotionConfig | None:
        """The motion gate's settings for this source, or None when it runs the models on every frame."""
        return motion_setting(self.motion, self.motion_default)

    @model_validator(mode="before")
    @classmethod
    def _own_kind(cls, data: Any) -> Any:
        """`kind: auto` (or none) in a kind's own model means that kind."""
        own = cls.model_fields["kind"].default
        if isinstance(data, dict) and data.get("kind", AUTO) == AUTO and own != AUTO:
            return {**data, "kind": own}
        return data


def kind_of_entry(registry: Registry, value: Any) -> str | None:
    """The kind a `sources:` entry (a mapping or a SourceConfig) names or implies; None when it is
    no mapping (or its `kind` is no text)."""
    if isinstance(value, SourceConfig):
        kind, uri = value.kind, value.uri
    elif isinstance(value, dict):
        kind, uri = value.get("kind", AUTO), value.get("uri")
    else:
        return None
    if not isinstance(kind, str):
        return None
    if kind != AUTO:
        return kind
    return registry.source_kind_for(uri if isinstance(uri, str) else "")


def source_union(registry: Registry) -> Any:
    """The type of one `sources:` entry: the registered kinds' models, chosen by `kind_of_entry`."""
    configs = registry.source_configs()
    if not configs:
        return SourceConfig
    choices = tuple(Annotated[model, Tag(kind)] for kind, model in configs.items())
    return Annotated[Union[choices], Discriminator(  # type: ignore[valid-type]  # noqa: UP007
        lambda value: kind_of_entry(registry, value), custom_error_type=UNKNOWN_KIND,
        custom_error_message="unknown source kind")]


def any_of(schema: dict[str, Any]) -> None:
    """JSON Schema of `sources`: `anyOf` the kinds (an entry without `kind:` fits several of them)."""
    items = schema.get("items", {})
    if "oneOf" in items:
        items["anyOf"] = items.pop("oneOf")


def unknown_kind_message(registry: Registry, value: Any) -> str:
    """Why an entry has no kind: its `kind:` is not registered, or it is no mapping."""
    if not isinstance(value, dict | SourceConfig):
        return f"expected a mapping with 'id' and 'uri', got {type(value).__name__}"
    kind = value.get("kind") if isinstance(value, dict) else value.kind
    return f"unknown source kind {kind!r}; valid kinds: {', '.join([AUTO, *registry.source_configs()])}"


def strip_kind_tag(loc: tuple[Any, ...], registry: Registry) -> tuple[Any, ...]:
    """`loc` without the kind pydantic inserts after a source's list index: (0, 'rtsp', 'x') -> (0, 'x')."""
    kinds = registry.source_configs()
    return tuple(part for i, part in enumerate(loc)
                 if not (i > 0 and isinstance(loc[i - 1], int) and isinstance(part, str) and part in kinds))


def resolve_source(value: SourceConfig | dict[str, Any], registry: Registry) -> SourceConfig:
    """The config of a kind's own model for a mapping or a generic `SourceConfig` (`Pipeline.add_source`).

    Raises:
        ConfigError: one `source: key: problem` line per problem.
    """
    configs = registry.source_configs()
    if isinstance(value, SourceConfig) and type(value) is configs.get(value.kind):
        return value
    data = value.model_dump(exclude_unset=True) if isinstance(value, SourceConfig) else value
    try:
        return TypeAdapter(source_union(registry)).validate_python(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = strip_kind_tag((0, *err["loc"]), registry)[1:]
            message = {UNKNOWN_KIND: unknown_kind_message(registry, data),
                       "extra_forbidden": f"unknown key '{loc[-1] if loc else ''}'"}.get(err["type"], err["msg"])
            lines.append(f"source: {'.'.join(map(str, loc)) or '(top level)'}: {message}")
        raise ConfigError(lines) from None
