"""Track-to-detection association: vectorised IoU, gating and linear assignment (scipy / `lap`)."""

from __future__ import annotations

import lap
import numpy as np
from scipy.optimize import linear_sum_assignment

_EMPTY = np.zeros(0, dtype=np.int64)
_SMALL = 32  # up to this many rows and columns, scipy's solver is the faster one


def iou_matrix(a: np.ndarray, b: np.ndarray, buffer: float = 0.0, max_area_ratio: float = 0.0) -> np.ndarray:
    """Pairwise IoU between (N, 4) and (M, 4) xyxy boxes -> (N, M) (float64 unless both are float32).

    Args:
        buffer: grow every box by this fraction of its width/height on each side first
            (buffered IoU: boxes that moved a lot between frames can still overlap).
        max_area_ratio: when > 0, pairs whose areas differ more than this many times get IoU 0: a
            person cannot grow or shrink several-fold between two frames, so such a match is a scene
            cut or another object (a small pedestrian's track taking over a close-up).
    """
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    if buffer:
        a = _grow(a, buffer)
        b = _grow(b, buffer)
    a_lo, a_hi, b_lo, b_hi = a[:, :2], a[:, 2:], b[:, :2], b[:, 2:]  # corner views, each used twice
    wh = np.minimum(a_hi[:, None], b_hi)  # (N, M, 2) intersection size
    wh -= np.maximum(a_lo[:, None], b_lo)
    np.maximum(wh, 0.0, out=wh)
    inter = wh[..., 0] * wh[..., 1]
    size_a = a_hi - a_lo
    size_b = b_hi - b_lo
    area_a, area_b = size_a[:, 0] * size_a[:, 1], size_b[:, 0] * size_b[:, 1]
    area_a = area_a[:, None]
    union = area_a + (area_b - inter)
    np.maximum(union, 1e-12, out=union)
    iou = np.divide(inter, union, out=inter)
    if max_area_ratio:  # buffering scales both areas alike, so the ratio is the unbuffered one
        ratio = area_a / np.maximum(area_b, 1e-9)
        gate = ratio > max_area_ratio
        gate |= ratio * max_area_ratio < 1.0
        iou[gate] = 0.0
    return iou


def _grow(boxes: np.ndarray, frac: float) -> np.ndarray:
    wh = boxes[:, 2:] - boxes[:, :2]
    return np.concatenate([boxes[:, :2] - frac * wh, boxes[:, 2:] + frac * wh], axis=1)


def linear_assignment(cost: np.ndarray, cost_limit: float) -> tuple[np.ndarray, np.ndarray]:
    """Minimum-cost matching that never pairs a row and column with cost >= `cost_limit`.

    Costs are clipped to `cost_limit`, so a pair at the limit is as good as no pair: the same
    optimum as `lap.lapjv(cost, extend_cost=True, cost_limit=...)`. Small matrices (the usual case
    in tracking, at most `_SMALL` rows and columns) go to scipy's `linear_sum_assignment`, whose
    call costs about 1 µs against lap's 5-15 µs of wrapper work; larger ones to `lap.lapjv` on the
    matrix padded to a square with `cost_limit`.

    Returns:
        (rows, cols): int64 index arrays of the matched pairs.
    """
    if cost.size == 0:
        return _EMPTY, _EMPTY
    n, m = cost.shape
    if n == m == 1:  # the common trivial case, without a solver
        return (np.zeros(1, np.int64),) * 2 if cost[0, 0] < cost_limit else (_EMPTY, _EMPTY)
    if max(n, m) <= _SMALL:
        cost = np.minimum(cost, cost_limit)
    return _assign_clipped(cost, cost_limit)


def _assign_clipped(cost: np.ndarray, cost_limit: float) -> tuple[np.ndarray, np.ndarray]:
    """`linear_assignment` of a non-empty (n, m) `cost`, already clipped to `cost_limit` when
    max(n, m) <= `_SMALL` (scipy's solver); larger ones are clipped while padded for `lap`."""
    n, m = cost.shape
    if max(n, m) <= _SMALL:
        rows, cols = linear_sum_assignment(cost)  # int64 indices
    else:
        k = max(n, m)
        square = np.full((k, k), float(cost_limit))
        np.minimum(cost, cost_limit, out=square[:n, :m])
        _, x, _ = lap.lapjv(square, extend_cost=False)
        rows = np.flatnonzero(x[:n] < m)
        cols = x[rows].astype(np.int64)
    keep = cost[rows, cols] < cost_limit
    return rows[keep], cols[keep]


def match_masked(sim: np.ndarray, rows: np.ndarray, cols: np.ndarray, min_sim: float
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Maximum-similarity matching restricted to boolean `rows` (T,) x `cols` (N,) of `sim` (T, N),
    only pairs with similarity > `min_sim`. Returns (row, col) indices into `sim`.

    When every row and column has at most one candidate (the usual case between consecutive
    frames) the matching is read off directly; otherwise `lap` solves the ambiguous part.
    """
    n_rows, n_cols = np.count_nonzero(rows), np.count_nonzero(cols)
    if not n_rows or not n_cols:
        return _EMPTY, _EMPTY
    valid = sim > min_sim
    if n_rows < len(rows):
        valid &= rows[:, None]
    if n_cols < len(cols):
        valid &= cols
    r, c = valid.nonzero()  # the method: half the time of np.nonzero's wrapper
    if len(r) <= 1:
        return r, c
    rl, cl = r.tolist(), c.tolist()
    if len(set(rl)) == len(rl) and len(set(cl)) == len(cl):  # no conflicts: nothing to optimise
        return r, c
    if valid.size > 4096:  # large frames: solve only the rows and columns with candidates
        rr, cc = np.unique(r), np.unique(c)
        sub = np.where(valid[np.ix_(rr, cc)], 1.0 - sim[np.ix_(rr, cc)], 2.0)
        a, b = linear_assignment(sub, 1.0 - min_sim)
        return rr[a], cc[b]
    # invalid pairs cost the limit itself: the matrix is then already clipped (1 - sim <= limit
    # wherever sim > min_sim), as `linear_assignment` would make it, and is solved directly
    limit = 1.0 - min_sim
    return _assign_clipped(np.where(valid, 1.0 - sim, limit), limit)


def center_distance_gate(pred_xyxy: np.ndarray, det_xyxy: np.ndarray, max_ratio: float | np.ndarray
                         ) -> np.ndarray:
    """(N, M) bool: True where the detection centre lies within `max_ratio` (one for all, or (N,)
    per track) times the track's diagonal of the predicted centre (a cheap motion gate)."""
    pc = (pred_xyxy[:, :2] + pred_xyxy[:, 2:]) / 2
    dc = (det_xyxy[:, :2] + det_xyxy[:, 2:]) / 2
    diag = np.hypot(pred_xyxy[:, 2] - pred_xyxy[:, 0], pred_xyxy[:, 3] - pred_xyxy[:, 1])
    dist = np.hypot(pc[:, None, 0] - dc[None, :, 0], pc[:, None, 1] - dc[None, :, 1])
    return dist <= np.reshape(max_ratio, (-1, 1)) * diag[:, None]


def match_iou(track_xyxy: np.ndarray, det_xyxy: np.ndarray, min_iou: float,
              buffer: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Match tracks to detections maximising total IoU, only pairs with IoU > `min_iou`."""
    if len(track_xyxy) == 0 or len(det_xyxy) == 0:
        return _EMPTY, _EMPTY
    return linear_assignment(1.0 - iou_matrix(track_xyxy, det_xyxy, buffer), 1.0 - min_iou)

