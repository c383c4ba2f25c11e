"""Which configured trigger an event matches: its type, and each `where` key equal in its payload."""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.types import Event
from stages.sinks.clips.config import TriggerConfig

_MISSING = object()


def matching_trigger(triggers: Sequence[TriggerConfig], event: Event) -> TriggerConfig | None:
    """The first trigger `event` matches, or None. `where: {label: falling}` needs `payload["label"] ==
    "falling"` (no conversion: 1 and "1" differ; a key the payload lacks never matches)."""
    for trigger in triggers:
        if trigger.event == event.type and all(
                _same(event.payload.get(key, _MISSING), value) for key, value in trigger.where.items()):
            return trigger
    return None


def _same(got: object, wanted: object) -> bool:
    if got is _MISSING or isinstance(got, bool) != isinstance(wanted, bool):
        return False
    return got == wanted
