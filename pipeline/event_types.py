"""Event types: a name, what it means and the payload fields it carries.

The core defines only lifecycle events (`CORE_EVENT_TYPES`, the members of `EventType`); plugins
register the rest with `Registry.add_event_type` (faces' `face_recognized`, actions'
`action_started`, a third party's `zone_entered`). `run.py schema` and the configuration reference
(docs/reference/config.md) list them all.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from pipeline.types import EventType

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class EventTypeSpec:
    """One kind of event.

    Attributes:
        name: the `type` value of its events (lower_snake_case).
        fields: payload key -> its meaning (the keys its events may carry besides the event's own
            `id`, `type`, `source`, `wall_time`, `pts_s`, `frame_index`, `track_id`).
        description: when it is emitted.
        origin: who registered it: "core", or what the plugin said (default "plugin").
    """

    name: str
    fields: Mapping[str, str] = field(default_factory=dict)
    description: str = ""
    origin: str = "core"

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise ValueError(f"event type {self.name!r}: a name is lower_snake_case (e.g. 'zone_entered')")
        object.__setattr__(self, "fields", MappingProxyType(dict(self.fields)))

    def to_json(self) -> dict[str, object]:
        return {"description": self.description, "fields": dict(self.fields), "origin": self.origin}


def _core(kind: EventType, description: str, **fields: str) -> EventTypeSpec:
    return EventTypeSpec(str(kind), fields, description)


# where a stream runs under --ray (added to the events about placement)
_RAY = {"actor": "--ray: actor id", "node": "--ray: node id", "node_ip": "--ray: node address",
        "pid": "--ray: actor process id"}

CORE_EVENT_TYPES: Mapping[str, EventTypeSpec] = MappingProxyType({spec.name: spec for spec in (
    _core(EventType.STREAM_OPENED, "A stream opened (a file of a glob, a camera after connecting).",
          uri="the URI, credentials masked", width="frame width in pixels", height="frame height in pixels",
          fps="nominal frame rate", frames="frame count (null when live or unknown)"),
    _core(EventType.STREAM_ENDED, "A stream ended normally.", frames="frames processed",
          reason="only when not at its end: 'interrupted' or 'stopped'"),
    _core(EventType.STREAM_ERROR, "A stream ended on a read or decode failure.", error="what went wrong"),
    _core(EventType.STREAM_LOST, "A live stream stopped delivering; it is reconnecting.",
          reason="why", **_RAY),
    _core(EventType.STREAM_RECOVERED, "A lost stream delivers again.", gap_s="seconds without frames",
          attempts="reconnection attempts", resumed_at_frame="under --ray: the frame it resumed at",
          segment="under --ray: the output segment it writes now", **_RAY),
    _core(EventType.TRACK_STARTED, "A track got its id (`track_id`)."),
    _core(EventType.TRACK_ENDED, "A track was lost for good (`track_id`).", duration_s="seconds tracked",
          frames="frames with a detection", reason="under --ray: 'actor_lost' when its actor was lost"),
    _core(EventType.STAGE_ERROR, "A stage raised on a batch; frames went on without it.", stage="the stage id",
          error="the exception", consecutive="consecutive failed batches"),
    _core(EventType.SINK_ERROR, "A sink raised; it was closed, the others go on.", sink="the sink id",
          error="the exception"),
    _core(EventType.CONFIG_APPLIED, "A hot reload finished.", version="the config's version number",
          changed="what was added, removed or changed, per section"),
    _core(EventType.SOURCE_ADDED, "A source was added while running.", uri="the URI, credentials masked",
          **_RAY),
    _core(EventType.SOURCE_REMOVED, "A source was removed while running."),
)})
