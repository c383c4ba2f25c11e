"""Class-aware tracking: one tracker per class of a stream, all issuing ids from one counter.

A track never takes a detection of another class: on the demo's cut from bus.jpg to zidane.jpg, one
class-blind tracker let the bus's id continue on a person (their boxes overlapped). Each class gets
its own tracker of the same kind and settings, created when the class first appears and updated on
every frame after (with no rows when the class is absent, so its tracks age and end); ids stay unique
per stream because the trackers share one id counter.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from pipeline.types import Detections, FeatureMap
from stages.tracking.base import EndedTrack, MotionTracker


class PerClassTracker:
    """The `Tracker` protocol over per-class trackers made by `make()` (same kind and settings)."""

    def __init__(self, make: Callable[[], MotionTracker]) -> None:
        self._make = make
        self._first = make()  # owns the shared id counter; serves the first class seen
        self._trackers: dict[int, MotionTracker] = {}

    def _tracker(self, class_id: int) -> MotionTracker:
        tracker = self._trackers.get(class_id)
        if tracker is None:
            if not self._trackers:
                tracker = self._first
            else:
                tracker = self._make()
                tracker.share_ids(self._first)
                tracker.set_frame_rate(self._first.frame_rate)
            self._trackers[class_id] = tracker
        return tracker

    def update(self, detections: Detections, frame_index: int, dt: float | None = None,
               image: np.ndarray | None = None, feature_map: FeatureMap | None = None) -> Detections:
        """Each class's rows through its own tracker; the same rows come back in the same order with
        `track_id` filled, then any rows a tracker added (carried boxes)."""
        classes = detections.class_id
        for c in np.unique(classes).tolist():
            self._tracker(int(c))
        track_id = np.full(len(detections), -1, np.int64)
        added: list[Detections] = []
        for c, tracker in self._trackers.items():
            rows = np.flatnonzero(classes == c)
            out = tracker.update(detections[rows], frame_index, dt, image, feature_map)
            track_id[rows] = out.track_id[:len(rows)]
            if len(out) > len(rows):
                added.append(out[np.arange(len(rows), len(out))])
        tracked = detections.with_columns(track_id=track_id)
        return Detections.concat([tracked, *added]) if added else tracked

    def predicted_boxes(self, track_ids: np.ndarray, dt: float) -> np.ndarray:
        """`MotionTracker.predicted_boxes` over every class's tracker (ids are unique across them)."""
        out = np.full((len(track_ids), 4), np.nan)
        for tracker in self._trackers.values():
            moved = tracker.predicted_boxes(track_ids, dt)
            found = ~np.isnan(moved[:, 0])
            out[found] = moved[found]
        return out

    def __getattr__(self, name: str) -> object:
        """Settings read through the wrapper (`min_hits`, `score_mode`...) are those of its trackers,
        which all share them: the first one's."""
        if name in ("_first", "_make", "_trackers"):  # not set yet (during construction or unpickling)
            raise AttributeError(name)
        return getattr(self._first, name)

    @property
    def next_id(self) -> int:
        return self._first.next_id

    @property
    def frame_rate(self) -> float:
        return self._first.frame_rate

    @property
    def score_bands(self) -> int:
        return self._first.score_bands

    def set_frame_rate(self, frame_rate: float) -> None:
        for tracker in {id(t): t for t in [self._first, *self._trackers.values()]}.values():
            tracker.set_frame_rate(frame_rate)

    def adopt_settings(self, other: PerClassTracker) -> None:
        """Take `other`'s settings (a config change in place) in every class's tracker."""
        self._make = other._make
        for tracker in {id(t): t for t in [self._first, *self._trackers.values()]}.values():
            tracker.adopt_settings(other._first)

    def pop_ended(self) -> list[EndedTrack]:
        return [e for t in self._trackers.values() for e in t.pop_ended()]

    def finish(self) -> list[EndedTrack]:
        return [e for t in self._trackers.values() for e in t.finish()]

    def active_track_ids(self) -> list[int]:
        return sorted(i for t in self._trackers.values() for i in t.active_track_ids())
