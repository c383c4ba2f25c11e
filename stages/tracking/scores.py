"""Score thresholds relative to the score distribution a stream has shown so far.

Detectors score the same people differently (yolo11n-pose gives small people 0.5-0.7, a Faster
R-CNN 0.9+), so an absolute `new_track_score` tuned on one detector starves another of tracks.
`ScoreScale` turns a threshold *level* in [0, 1] into a raw score threshold for this stream:

- `absolute`: the level is the raw threshold (the classic behaviour);
- `quantile`: the level-quantile of the recent scores (level 0.3 = 30 % of boxes lie below);
- `range`: `lo + level * (hi - lo)`, with lo / hi the 5th / 95th percentiles of the recent
  scores (invariant to shifting and compressing the scores);
- `adaptive`: the lower of `absolute` and `range`: a detector that uses the whole score range is
  read as it is, one that scores everybody low (or in a narrow band) gets lowered thresholds.

The recent scores are the last `window` scores of the stream. Until `prior` real scores have been
seen, pseudo-scores spread evenly over [0, 1] fill the sample (each real score displaces one),
so the first frames use thresholds close to the absolute ones and the scale then follows the data.
Thresholds are recomputed every `refresh` frames (every frame while the prior is still in use),
which keeps the per-frame cost to a slice assignment.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

ScoreMode = Literal["absolute", "quantile", "range", "adaptive"]
SCORE_MODES: tuple[str, ...] = ("absolute", "quantile", "range", "adaptive")


class ScoreScale:
    """Maps threshold levels to raw scores from a running sample of one stream's scores.

    Args:
        mode: see the module docstring.
        window: how many of the latest scores form the sample.
        prior: how many evenly spread pseudo-scores stand in before real scores arrive.
        refresh: frames between two recomputations of the thresholds.
    """

    def __init__(self, mode: str = "range", window: int = 512, prior: int = 32, refresh: int = 16) -> None:
        if mode not in SCORE_MODES:
            raise ValueError(f"unknown score mode {mode!r}; choose from {list(SCORE_MODES)}")
        if window < 1 or prior < 1 or refresh < 1:
            raise ValueError("window, prior and refresh must be >= 1")
        self.mode = mode
        self.refresh = refresh
        self._ring = np.zeros(window, np.float64)
        self._prior = (np.arange(prior) + 0.5) / prior  # evenly over [0, 1]
        self._seen = 0  # real scores observed
        self._due = 0  # frames until the thresholds are recomputed
        self._levels: tuple[float, ...] = ()
        self._raw: tuple[float, ...] = ()

    def observe(self, scores: np.ndarray) -> None:
        """Add one frame's scores to the sample."""
        self._due -= 1
        n = len(scores)
        if not n or self.mode == "absolute":
            return
        ring = self._ring
        w = len(ring)
        start = self._seen % w
        end = start + n
        if end <= w:
            ring[start:end] = scores
        elif n >= w:
            ring[:] = scores[-w:]
        else:
            ring[start:] = scores[:w - start]
            ring[:end - w] = scores[w - start:]
        self._seen += n

    def thresholds(self, levels: tuple[float, ...]) -> tuple[float, ...]:
        """Raw score thresholds for `levels` (cached; recomputed every `refresh` frames, and every
        frame while the prior is still in the sample)."""
        if self.mode == "absolute":
            return levels
        if self._due > 0 and levels == self._levels and self._seen >= len(self._prior):
            return self._raw
        self._due = self.refresh
        self._levels = levels
        self._raw = tuple(self._compute(np.asarray(levels, np.float64)).tolist())
        return self._raw

    def sample(self) -> np.ndarray:
        """The scores the thresholds come from (prior stand-ins, then the real ones)."""
        real = self._ring[:min(self._seen, len(self._ring))]
        rest = len(self._prior) - self._seen
        return np.concatenate([self._prior[:rest], real]) if rest > 0 else real

    def _compute(self, levels: np.ndarray) -> np.ndarray:
        s = np.sort(self.sample())  # a sort and two look-ups: a tenth of np.quantile's time
        if self.mode == "quantile":
            return _quantiles(s, np.clip(levels, 0.0, 1.0))
        lo, hi = _quantiles(s, _RANGE)
        raw = lo + levels * max(hi - lo, 1e-6)
        return np.minimum(raw, levels) if self.mode == "adaptive" else raw

    def copy_mode(self, other: ScoreScale) -> None:
        """Take `other`'s mode and refresh rate, keeping this stream's sample (a config change)."""
        if other.mode != self.mode or other.refresh != self.refresh:
            self.mode, self.refresh = other.mode, other.refresh
            self._due = 0


_RANGE = np.array([0.05, 0.95])


def _quantiles(sorted_scores: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Linear-interpolated quantiles of an ascending array (numpy's default method)."""
    pos = q * (len(sorted_scores) - 1)
    below = np.floor(pos).astype(np.int64)
    above = np.minimum(below + 1, len(sorted_scores) - 1)
    frac = pos - below
    return sorted_scores[below] * (1 - frac) + sorted_scores[above] * frac
