"""Multi-object trackers behind one protocol, and the name -> class table the config uses."""

from __future__ import annotations

from typing import Any

from stages.tracking.argus import ArgusTracker
from stages.tracking.base import EndedTrack, MotionTracker, Tracker
from stages.tracking.bytetrack import ByteTracker
from stages.tracking.sort import SortTracker

TRACKERS: dict[str, type[MotionTracker]] = {
    "sort": SortTracker,
    "bytetrack": ByteTracker,
    "argus": ArgusTracker,
}


def make_tracker(name: str, **params: Any) -> Tracker:
    """A new tracker by table name, e.g. `make_tracker("argus", lost_frames=30)`."""
    try:
        cls = TRACKERS[name]
    except KeyError:
        raise ValueError(f"unknown tracker {name!r}; choose from {sorted(TRACKERS)}") from None
    return cls(**params)


__all__ = ["TRACKERS", "ArgusTracker", "ByteTracker", "EndedTrack", "SortTracker", "Tracker", "make_tracker"]
