"""Choosing the `rules` thresholds from labelled clips, and scoring that choice on people it never saw.

Method: coordinate search. Every threshold in `GRID` starts at the middle value of its grid (not at
the shipped default), then, one threshold at a time in `GRID`'s order, every value of its grid is
tried with the others fixed and the best kept; `sweeps` passes over all thresholds. `fall_window_s`
stays fixed (the cues depend on it). The hysteresis settings are not searched.

Objective on the tuning clips: macro-F1 over the classes labelled there (frames, as `actions eval`)
plus the fall-event F1, where a fall counts as found only when caught (its start within
`FALL_MATCH_S` and its alert within `FALL_ALERT_S` of the fall's end) and a predicted fall start that
matches no labelled fall is a false positive. Ties keep the earlier value (grids run from loose to strict
where that applies), so the result is deterministic.

`nested_lopo` is the honest figure: for each person, the thresholds are chosen on the other people's
clips only and scored on that person's; the held-out results are pooled and scored once.
The windows' cues do not depend on the searched thresholds, so they are computed once per clip and
each trial costs only the decisions and the hysteresis (about 50 ms for the 16 shared clips).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from argus.tools.actions.dataset import ClipData, sequence_windows
from argus.tools.actions.evaluate import ClipResult, breakdown, replay, score_results
from stages.actions import rules
from stages.actions.hysteresis import ActionState

GRID: dict[str, tuple[float, ...]] = {
    "fall_drop": (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8),
    "fall_speed": (0.4, 0.6, 0.8, 1.0, 1.2, 1.5),
    "fall_angle": (35.0, 40.0, 45.0, 50.0, 55.0, 60.0, 65.0),
    "fall_knees_up": (-0.6, -0.45, -0.3, -0.15, 0.0),
    "fall_drop_end_on": (0.4, 0.5, 0.6, 0.7, 0.8),
    "fall_collapse": (0.6, 0.75, 0.9, 1.05, 1.2),
    "fall_still_speed": (0.3, 0.5, 0.8, 1.2, 99.0),
    "lying_angle": (45.0, 50.0, 55.0, 60.0, 65.0, 70.0, 75.0),
    "lying_aspect": (1.0, 1.2, 1.4, 1.6, 1.8),
    "sitting_knee": (0.15, 0.25, 0.35, 0.45, 0.55),
    "upright_angle": (20.0, 25.0, 30.0, 35.0, 40.0, 45.0),
    "hands_up_height": (0.2, 0.35, 0.5, 0.65, 0.8),
    "running_speed": (0.6, 0.75, 0.85, 1.0, 1.2, 1.5),
    "running_lean": (0.0, 4.0, 8.0, 12.0, 16.0),
    "walking_speed": (0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5),
}


@dataclass
class Prepared:
    """One clip's windows reduced to their cues."""

    data: ClipData
    pts: np.ndarray
    ready: list[int]
    cues: list[dict[str, float]]


def prepare(data: list[ClipData], window_s: float, steps: int) -> list[Prepared]:
    """Each clip's frames, the frames that have a window, and those windows' cues."""
    out = []
    for item in data:
        pts, wins = sequence_windows(item.sequence, window_s, steps)
        ready = [i for i, w in enumerate(wins) if w is not None]
        out.append(Prepared(item, pts, ready, [rules.cues(wins[i], window_s) for i in ready]))
    return out


def run(prepared: list[Prepared], thresholds: dict[str, float], state: Callable[[], ActionState]) -> list[ClipResult]:
    """Every prepared clip through the rules with `thresholds` and the hysteresis."""
    out = []
    for p in prepared:
        decisions = [rules.decide(c, thresholds) for c in p.cues]
        out.append(replay(p.data, p.pts, p.ready, rules.scores_of(decisions), rules.CLASSES, state,
                          rules.onsets_of(p.cues, decisions)))
    return out


def objective(result: dict) -> float:
    """Macro-F1 over the labelled classes + fall-event F1 (see the module docstring)."""
    falls = result["falls"]
    tp = falls["caught"]
    fp = falls["false_alarms"]
    fn = falls["labelled"] - tp
    fall_f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0
    return result["macro_f1"] + fall_f1


def tune(prepared: list[Prepared], state: Callable[[], ActionState], *, sweeps: int = 2,
         progress: Callable[[int, int], None] | None = None) -> tuple[dict[str, float], float]:
    """(thresholds, objective) chosen by coordinate search on `prepared` (see the module docstring)."""
    current = {**rules.RULES, **{name: grid[len(grid) // 2] for name, grid in GRID.items()}}
    total, done = sweeps * sum(len(g) for g in GRID.values()), 0
    best = float("-inf")
    for _ in range(sweeps):
        for name, grid in GRID.items():
            scores = []
            for value in grid:
                done += 1
                if progress:
                    progress(done, total)
                trial = {**current, name: value}
                scores.append(objective(score_results(run(prepared, trial, state), rules.CLASSES)))
            current[name], best = grid[_plateau_middle(scores)], max(scores)
    return current, best


def _plateau_middle(scores: list[float], tol: float = 1e-6) -> int:
    """Index of the middle of the widest run of best scores: with few clips, many values tie, and the
    middle of a plateau keeps the most margin to the values that fail on the tuning clips."""
    top = max(scores)
    runs, start = [], None
    for i, s in enumerate([*scores, float("-inf")]):
        if s >= top - tol and start is None:
            start = i
        elif s < top - tol and start is not None:
            runs.append((start, i - 1))
            start = None
    lo, hi = max(runs, key=lambda r: r[1] - r[0])
    return (lo + hi) // 2


def nested_lopo(data: list[ClipData], state: Callable[[], ActionState], window_s: float, steps: int, *,
                sweeps: int = 2, progress: Callable[[str], None] | None = None) -> tuple[dict, dict[str, dict]]:
    """(pooled held-out scores, thresholds chosen per held-out person)."""
    prepared = prepare(data, window_s, steps)
    results: list[ClipResult] = []
    chosen: dict[str, dict] = {}
    for person in sorted({p.data.clip.person for p in prepared}):
        if progress:
            progress(f"leave out {person}: tuning on the others")
        rest = [p for p in prepared if p.data.clip.person != person]
        thresholds, _ = tune(rest, state, sweeps=sweeps)
        chosen[person] = thresholds
        results += run([p for p in prepared if p.data.clip.person == person], thresholds, state)
    out = score_results(results, rules.CLASSES)
    out["breakdown"] = breakdown(results, rules.CLASSES)
    return out, chosen
