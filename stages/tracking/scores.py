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

Height bands (`bands` > 1): a detector's score often depends on the box's size (yolo11n-pose
scores people under about 100 network-input pixels 0.3-0.6 and those above 130 px 0.8-0.9, see
`simulate.POSE_SCORE`), so one distribution for the whole stream reads a small person's 0.55 as
a weak box. With bands, the sample is split by box height into `bands` equal-count groups, each
group gets its own thresholds, and a box's thresholds are interpolated (in log height) between
the groups' median heights: every box is compared with boxes of a similar size. Until
`prior * bands` real scores have been seen, all boxes share the whole-stream thresholds.
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
        bands: height bands (module docstring); 1 = one distribution for every box.
    """

    def __init__(self, mode: str = "range", window: int = 512, prior: int = 32, refresh: int = 16,
                 bands: int = 1) -> None:
        if mode not in SCORE_MODES:
            raise ValueError(f"unknown score mode {mode!r}; choose from {list(SCORE_MODES)}")
        if window < 1 or prior < 1 or refresh < 1 or bands < 1:
            raise ValueError("window, prior, refresh and bands must be >= 1")
        self.mode = mode
        self.refresh = refresh
        self.bands = bands
        self._ring = np.zeros(window, np.float64)
        self._log_h = np.zeros(window, np.float64)  # log box heights, beside `_ring` (bands > 1)
        self._table: tuple[np.ndarray, np.ndarray] | None = None  # band centres (B,), raw (L, B)
        self._heights_from = 0  # `_seen` when heights began to be sampled (bands switched on)
        self._prior = (np.arange(prior) + 0.5) / prior  # evenly over [0, 1]
        self._seen = 0  # real scores observed
        self._due = 0  # frames until the thresholds are recomputed
        self._levels: tuple[float, ...] = ()
        self._raw: tuple[float, ...] = ()

    def observe(self, scores: np.ndarray, heights: np.ndarray | None = None) -> None:
        """Add one frame's scores (and, with bands, their boxes' heights in pixels) to the sample."""
        self._due -= 1
        n = len(scores)
        if not n or self.mode == "absolute":
            return
        start = self._seen % len(self._ring)
        _put(self._ring, start, scores)
        if self.bands > 1 and heights is not None:
            _put(self._log_h, start, np.log(np.maximum(heights, 1.0)))
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
        self._table = self._band_table(np.asarray(levels, np.float64)) if self.bands > 1 else None
        return self._raw

    def box_thresholds(self, levels: tuple[float, ...], heights: np.ndarray) -> tuple:
        """Per-box raw thresholds for `levels`: with height bands (and enough scores seen), one
        (N,) array per level, interpolated by each box's height; else `thresholds(levels)`."""
        raw = self.thresholds(levels)
        if self._table is None or not len(heights):
            return raw
        centres, table = self._table
        log_h = np.log(np.maximum(heights, 1.0))
        return tuple(np.interp(log_h, centres, row) for row in table)

    def _band_table(self, levels: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """(band centres in log height (B,), raw thresholds (L, B)), or None before enough scores."""
        w = len(self._ring)
        n = min(self._seen - self._heights_from, w)  # scores observed with their heights
        if n < len(self._prior) * self.bands:
            return None
        rows = np.arange(self._seen - n, self._seen) % w if n < w else np.arange(w)
        order = rows[np.argsort(self._log_h[rows], kind="stable")]
        centres, raws = [], []
        for part in np.array_split(order, self.bands):
            centres.append(float(np.median(self._log_h[part])))
            raws.append(self._compute(levels, self._ring[part]))
        return np.array(centres), np.column_stack(raws)

    def sample(self) -> np.ndarray:
        """The scores the thresholds come from (prior stand-ins, then the real ones)."""
        real = self._ring[:min(self._seen, len(self._ring))]
        rest = len(self._prior) - self._seen
        return np.concatenate([self._prior[:rest], real]) if rest > 0 else real

    def _compute(self, levels: np.ndarray, sample: np.ndarray | None = None) -> np.ndarray:
        s = np.sort(self.sample() if sample is None else sample)  # a tenth of np.quantile's time
        if self.mode == "quantile":
            return _quantiles(s, np.clip(levels, 0.0, 1.0))
        lo, hi = _quantiles(s, _RANGE)
        raw = lo + levels * max(hi - lo, 1e-6)
        return np.minimum(raw, levels) if self.mode == "adaptive" else raw

    def copy_mode(self, other: ScoreScale) -> None:
        """Take `other`'s mode, refresh rate and bands, keeping this stream's sample (a config
        change; heights are sampled from then on if bands were off)."""
        if (other.mode, other.refresh, other.bands) != (self.mode, self.refresh, self.bands):
            if self.bands == 1 and other.bands > 1:
                self._heights_from = self._seen
            self.mode, self.refresh, self.bands = other.mode, other.refresh, other.bands
            self._due = 0


_RANGE = np.array([0.05, 0.95])


def _put(ring: np.ndarray, start: int, values: np.ndarray) -> None:
    """Write `values` into the ring buffer `ring` from position `start`, wrapping around."""
    n, w = len(values), len(ring)
    end = start + n
    if end <= w:
        ring[start:end] = values
    elif n >= w:
        ring[:] = values[-w:]
    else:
        ring[start:] = values[:w - start]
        ring[:end - w] = values[w - start:]


def _quantiles(sorted_scores: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Linear-interpolated quantiles of an ascending array (numpy's default method)."""
    pos = q * (len(sorted_scores) - 1)
    below = np.floor(pos).astype(np.int64)
    above = np.minimum(below + 1, len(sorted_scores) - 1)
    frac = pos - below
    return sorted_scores[below] * (1 - frac) + sorted_scores[above] * frac
