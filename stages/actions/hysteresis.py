"""From per-window class scores to a stable current action per track, with start/end transitions.

Rules (per track, one update per classified window):
  - the current action stays while its score is >= `leave` (and, with `fall_until_up`, a `falling`
    action stays while the top class is `lying` or `falling`: the fall state is cleared only when
    the person gets up);
  - otherwise the top class becomes a candidate when its score is >= `enter`; a candidate that
    stays the top class for `min_duration_s` seconds starts and ends the current action at that same
    time; its start is when it first became the candidate, less the `onset_s` the classifier gave
    then (how long before that window's end its evidence began: a fall's drop, for the rules);
  - when no class reaches `enter` and the current score stays below `leave` for `min_duration_s`,
    the current action ends with no successor (unknown);
  - `close` ends the open action (the track ended, the source ended).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True, slots=True)
class Transition:
    """An action that started or ended: kind is "started" or "ended"; end fields for "ended" only."""

    kind: str
    label: str
    confidence: float
    start_pts_s: float
    start_frame: int  # the frame its candidate first came on top (start_pts_s may be earlier: an onset)
    end_pts_s: float | None = None

    def payload(self) -> dict:
        out = {"label": self.label, "confidence": round(self.confidence, 3), "start_pts_s": round(self.start_pts_s, 3)}
        if self.end_pts_s is not None:
            out["end_pts_s"] = round(self.end_pts_s, 3)
            out["duration_s"] = round(self.end_pts_s - self.start_pts_s, 3)
        return out


@dataclass
class ActionState:
    """One track's current action and pending candidate."""

    enter: float = 0.6
    leave: float = 0.4
    min_duration_s: float = 0.3
    fall_until_up: bool = True
    label: str | None = None
    start_pts: float = 0.0
    start_frame: int = 0
    scores: list[float] = field(default_factory=list)
    pending: str | None = None
    pending_pts: float = 0.0  # the candidate's start: when it became the candidate, less its onset
    pending_since: float = 0.0  # when it became the candidate (min_duration_s counts from here)
    pending_frame: int = 0
    pending_scores: list[float] = field(default_factory=list)

    display: str | None = None  # the label shown on the row: the action, or `lying` while a fall is held

    def _holds(self, classes: tuple[str, ...], scores: np.ndarray, top: str) -> bool:
        if self.label is None:
            return False
        if self.fall_until_up and self.label == "falling" and top in ("lying", "falling"):
            return True
        return float(scores[classes.index(self.label)]) >= self.leave and (
            top == self.label or float(scores.max()) < self.enter)

    def update(self, classes: tuple[str, ...], scores: np.ndarray, pts: float, frame: int,
               onset_s: float = 0.0) -> list[Transition]:
        """Take one window's scores (aligned with `classes`) at time `pts`, whose top class began
        `onset_s` seconds before `pts`; the transitions it causes."""
        top_i = int(np.argmax(scores))
        top, top_p = classes[top_i], float(scores[top_i])
        self.display = self.label
        if self._holds(classes, scores, top):
            if self.label == "falling" and top == "lying":
                self.display = "lying"
            self.scores.append(float(scores[classes.index(self.label)]))  # type: ignore[arg-type]
            self.pending = None
            return []
        candidate = top if top_p >= self.enter else None
        if candidate != self.pending or not self.pending_scores:
            start = pts - max(0.0, onset_s) if candidate is not None else pts
            if self.label is not None:  # never before the current action began: events stay in order
                start = max(start, self.start_pts)
            self.pending, self.pending_pts, self.pending_since = candidate, start, pts
            self.pending_frame, self.pending_scores = frame, []
        self.pending_scores.append(top_p)
        if pts - self.pending_since + 1e-9 < self.min_duration_s or candidate == self.label:
            return []
        out = self._end(self.pending_pts)
        if candidate is not None:
            self.label, self.start_pts, self.start_frame = candidate, self.pending_pts, self.pending_frame
            self.scores = list(self.pending_scores)
            self.display = candidate
            out.append(Transition("started", candidate, float(np.mean(self.scores)), self.start_pts, self.start_frame))
        self.pending, self.pending_scores = None, []
        return out

    def _end(self, end_pts: float) -> list[Transition]:
        if self.label is None:
            return []
        ended = Transition("ended", self.label, float(np.mean(self.scores)) if self.scores else 0.0,
                           self.start_pts, self.start_frame, max(end_pts, self.start_pts))
        self.label, self.display, self.scores = None, None, []
        return [ended]

    def close(self, end_pts: float) -> list[Transition]:
        """End the open action at `end_pts` (the track's last time)."""
        self.pending, self.pending_scores = None, []
        return self._end(end_pts)
