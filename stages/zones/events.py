"""The `zones` stage's event types, registered by `stages/plugin.py`."""

from __future__ import annotations

from pipeline.registry import Registry

LINE_CROSSED = "line_crossed"
ZONE_ENTERED = "zone_entered"
ZONE_EXITED = "zone_exited"
ZONE_LOITERING = "zone_loitering"

_WHO = {"class_name": "the track's class",
        "identity": "the person's identity, when a face stage named them",
        "action": "the track's current action, when an action stage gave one"}
LINE_FIELDS = {"line": "the line's id",
               "direction": "`in` (to the right-hand side of the line walked from its first point to its "
                            "second, as seen on the image) or `out`", **_WHO}
ZONE_FIELDS = {"zone": "the zone's id", **_WHO}


def register_events(registry: Registry) -> None:
    """Add `line_crossed`, `zone_entered`, `zone_exited` and `zone_loitering` to `registry`."""
    origin = "stages.zones"
    registry.add_event_type(LINE_CROSSED, LINE_FIELDS, "A track's anchor crossed a line's segment and stayed on "
                            "the new side for `min_frames` (`track_id`).", origin=origin)
    registry.add_event_type(ZONE_ENTERED, ZONE_FIELDS, "A track stayed in a zone for `min_frames` (`track_id`).",
                            origin=origin)
    registry.add_event_type(ZONE_EXITED, {**ZONE_FIELDS, "dwell_s": "seconds it stayed"},
                            "A track left a zone for `min_frames`, or ended inside it (`track_id`).", origin=origin)
    registry.add_event_type(ZONE_LOITERING, {**ZONE_FIELDS, "dwell_s": "seconds it has stayed so far"},
                            "A track has stayed `loiter_s` in a zone: once per stay (`track_id`).", origin=origin)
