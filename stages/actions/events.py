"""The action stage's event types, registered by `stages/plugin.py`."""

from __future__ import annotations

from pipeline.registry import Registry

ACTION_STARTED = "action_started"
ACTION_ENDED = "action_ended"

_FIELDS = {"label": "the action (a class of the model or of the rules)",
           "confidence": "its score when it started",
           "start_pts_s": "stream time it started"}


def register_events(registry: Registry) -> None:
    """Add `action_started` and `action_ended` to `registry`."""
    registry.add_event_type(ACTION_STARTED, _FIELDS, "A track's action held for `min_duration_s` (`track_id`).",
                            origin="stages.actions")
    registry.add_event_type(ACTION_ENDED, {**_FIELDS, "end_pts_s": "stream time it ended",
                                           "duration_s": "seconds it lasted"},
                            "A track's action ended, or its track did (`track_id`).", origin="stages.actions")
