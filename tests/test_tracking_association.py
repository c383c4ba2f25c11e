"""IoU matrix, gating and linear assignment."""

from __future__ import annotations

import numpy as np
import pytest

from stages.tracking.association import center_distance_gate, iou_matrix, linear_assignment, match_iou


def _iou_loop(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out = np.zeros((len(a), len(b)))
    for i, p in enumerate(a):
        for j, q in enumerate(b):
            w = max(0.0, min(p[2], q[2]) - max(p[0], q[0]))
            h = max(0.0, min(p[3], q[3]) - max(p[1], q[1]))
            inter = w * h
            union = (p[2] - p[0]) * (p[3] - p[1]) + (q[2] - q[0]) * (q[3] - q[1]) - inter
            out[i, j] = inter / union if union > 0 else 0.0
    return out


def test_tracking_association_iou_matches_loop() -> None:
    rng = np.random.default_rng(1)
    xy = rng.uniform(0, 100, (7, 2))
    a = np.hstack([xy, xy + rng.uniform(1, 50, (7, 2))])
    xy = rng.uniform(0, 100, (5, 2))
    b = np.hstack([xy, xy + rng.uniform(1, 50, (5, 2))])
    np.testing.assert_allclose(iou_matrix(a, b), _iou_loop(a, b))
    assert iou_matrix(a, b[:0]).shape == (7, 0)
    assert iou_matrix(a[:1], a[:1])[0, 0] == 1.0


def test_tracking_association_buffered_iou_overlaps_more() -> None:
    a = np.array([[0.0, 0, 10, 10]])
    b = np.array([[12.0, 0, 22, 10]])
    assert iou_matrix(a, b)[0, 0] == 0.0
    assert iou_matrix(a, b, buffer=0.3)[0, 0] > 0.0


def test_tracking_association_linear_assignment_respects_limit() -> None:
    cost = np.array([[0.1, 0.9, 0.5], [0.2, 0.95, 0.99]])
    rows, cols = linear_assignment(cost, 0.8)
    assert sorted(zip(rows.tolist(), cols.tolist(), strict=True)) == [(0, 2), (1, 0)]
    rows, cols = linear_assignment(np.array([[0.9]]), 0.8)
    assert len(rows) == 0
    rows, cols = linear_assignment(np.zeros((0, 3)), 0.8)
    assert len(rows) == len(cols) == 0


def test_tracking_association_match_iou_and_gate() -> None:
    tracks = np.array([[0.0, 0, 10, 20], [100, 100, 120, 140]])
    dets = np.array([[101.0, 101, 121, 141], [200, 200, 210, 210], [1, 0, 11, 20]])
    ti, di = match_iou(tracks, dets, 0.3)
    assert dict(zip(ti.tolist(), di.tolist(), strict=True)) == {0: 2, 1: 0}
    gate = center_distance_gate(tracks, dets, 1.0)
    assert gate[0, 2]
    assert gate[1, 0]
    assert not gate[0, 1]


def test_tracking_association_matches_lap_extend_cost() -> None:
    import lap

    rng = np.random.default_rng(7)
    for shape in [(3, 5), (6, 2), (8, 8), (1, 4), (40, 50), (70, 33)]:  # scipy and lap paths
        for _ in range(10):
            cost = rng.uniform(0, 1.2, shape)
            limit = 0.8
            rows, cols = linear_assignment(cost, limit)
            _, x, _ = lap.lapjv(cost, extend_cost=True, cost_limit=limit)
            ref = [(i, int(j)) for i, j in enumerate(x) if j >= 0 and cost[i, j] < limit]
            got = list(zip(rows.tolist(), cols.tolist(), strict=True))
            assert sum(cost[i, j] for i, j in got) == pytest.approx(sum(cost[i, j] for i, j in ref))
            assert len(got) == len(ref)
