"""The face stage's event type, registered by `stages/plugin.py`."""

from __future__ import annotations

from pipeline.registry import Registry

FACE_RECOGNIZED = "face_recognized"


def register_events(registry: Registry) -> None:
    """Add `face_recognized` to `registry`."""
    registry.add_event_type(
        FACE_RECOGNIZED,
        {"name": "the voted identity (a gallery name, or 'unknown')",
         "confidence": "confidence of the vote in [0, 1]",
         "faces": "faces of the track that voted for this name",
         "faces_seen": "faces of the track that passed the quality gates",
         "previous": "the name announced before, when the identity changed"},
        "A tracked person's voted identity appeared or changed (`track_id`).", origin="stages.faces")
