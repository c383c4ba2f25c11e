"""The `clip_saved` event type, registered by `stages/plugin.py`."""

from __future__ import annotations

from pipeline.registry import Registry

CLIP_SAVED = "clip_saved"
CLIP_FIELDS = {"clip": "the clip's id (its row in clips.jsonl)",
               "path": "the MP4, relative to output_dir",
               "thumbnail": "the JPEG of the trigger frame, relative to output_dir",
               "start_pts_s": "stream time of its first frame",
               "end_pts_s": "stream time of its last frame",
               "trigger": "the type of the event that started it",
               "bytes": "the MP4's size"}


def register_events(registry: Registry) -> None:
    """Add `clip_saved` to `registry`."""
    registry.add_event_type(CLIP_SAVED, CLIP_FIELDS, "A clips sink finished a clip (emitted by the sink; "
                            "its `pts_s` is the clip's end).", origin="stages.sinks.clips")
