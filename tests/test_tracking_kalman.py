"""The production Kalman path (`TrackTable` with `BoxKalman`'s *_state methods) vs filterpy's
KalmanFilter with the same F, H, Q, R, over predicts and updates with varying dt."""

from __future__ import annotations

import numpy as np
import pytest

filterpy_kalman = pytest.importorskip("filterpy.kalman", reason="filterpy is the reference implementation")

from stages.tracking.kalman import BoxKalman, cxcywh_to_xyxy, xyxy_to_cxcywh  # noqa: E402
from stages.tracking.table import TrackTable  # noqa: E402

_H = np.hstack([np.eye(4), np.zeros((4, 4))])


def _size(x: np.ndarray) -> np.ndarray:
    """(8,) per-state-component box size: w, h, w, h for positions and velocities (>= 1 px)."""
    w, h = max(float(x[2]), 1.0), max(float(x[3]), 1.0)
    return np.array([w, h, w, h, w, h, w, h])


def _reference(z: np.ndarray, kal: BoxKalman) -> filterpy_kalman.KalmanFilter:
    """A filterpy filter started like `BoxKalman.initiate_state`."""
    kf = filterpy_kalman.KalmanFilter(dim_x=8, dim_z=4)
    kf.x = np.concatenate([z, np.zeros(4)]).reshape(8, 1)
    s = _size(kf.x.ravel())
    kf.P = np.diag(np.concatenate([(2 * kal.std_pos * s[:4]) ** 2, (10 * kal.std_vel * s[4:]) ** 2]))
    kf.H = _H.copy()
    return kf


def _predict(kf: filterpy_kalman.KalmanFilter, kal: BoxKalman, dt: float, matched: bool) -> None:
    if not matched:  # TrackTable.predict: a track unmatched last frame stops growing or shrinking
        kf.x[6:8] = 0.0
    s = _size(kf.x.ravel())  # Q scales with the size before the step
    kf.F = np.eye(8)
    kf.F[:4, 4:] = dt * np.eye(4)
    kf.Q = np.diag(np.concatenate([(kal.std_pos * s[:4]) ** 2, (kal.std_vel * s[4:]) ** 2]) * dt)
    kf.predict()


def _update(kf: filterpy_kalman.KalmanFilter, kal: BoxKalman, z: np.ndarray, score: float | None) -> None:
    r = (kal.std_meas * _size(kf.x.ravel())[:4]) ** 2  # R scales with the predicted size
    if kal.score_scaled and score is not None:
        r = r * np.clip(1.0 - score, 0.05, 1.0) * 2.0
    kf.update(z.reshape(4, 1), R=np.diag(r))


def _assert_same(table: TrackTable, refs: list) -> None:
    assert len(table) == len(refs)
    for i, kf in enumerate(refs):
        np.testing.assert_allclose(table.mean[i], kf.x.ravel(), rtol=1e-6, atol=1e-9)
        scale = np.abs(kf.P).max()  # off-block entries are 0 here and ~1e-17 in filterpy
        np.testing.assert_allclose(table.cov[i], kf.P, rtol=1e-6, atol=1e-9 * scale)


@pytest.mark.parametrize("score_scaled", [False, True])
def test_tracking_kalman_track_table_matches_filterpy(score_scaled: bool) -> None:
    rng = np.random.default_rng(7)
    kal = BoxKalman(std_pos=0.05, std_vel=0.00625, std_meas=0.05, score_scaled=score_scaled)
    table = TrackTable(kal)
    refs: list = []
    matched: list[bool] = []
    motion: list[np.ndarray] = []  # per track: how its measured box moves per frame

    def spawn(n: int, frame: int) -> None:
        z = np.column_stack([rng.uniform(50, 600, n), rng.uniform(50, 400, n),
                             rng.uniform(20, 80, n), rng.uniform(40, 200, n)])
        table.spawn(z, frame)
        refs.extend(_reference(zi, kal) for zi in z)
        matched.extend([True] * n)
        motion.extend(rng.normal(0, 3, (n, 4)) * [1, 1, 0.1, 0.1])

    spawn(5, 0)
    dts = [1.0, 2.0, 1.0, 0.5, 3.7, 1.0, 5.0, 1.0, 2.0, 1.0]
    for step, dt in enumerate(dts):
        if step == 4:
            kal.std_vel = 0.0125  # what `MotionTracker.set_frame_rate` does for a 15 fps stream
        table.predict(dt)
        for i, kf in enumerate(refs):
            _predict(kf, kal, dt, matched[i])
        _assert_same(table, refs)
        # measure a random subset near each track (some frames: none), with scores
        rows = np.flatnonzero(rng.uniform(size=len(table)) < (0.0 if step == 3 else 0.7))
        z = table.mean[rows, :4] + np.array(motion)[rows] * dt + rng.normal(0, 2, (len(rows), 4))
        z[:, 2:] = np.maximum(z[:, 2:], 5.0)
        scores = rng.uniform(0.3, 1.0, len(rows))
        table.correct(rows, z, scores if score_scaled else None, step + 1)
        for j, row in enumerate(rows.tolist()):
            _update(refs[row], kal, z[j], float(scores[j]) if score_scaled else None)
        matched = [i in set(rows.tolist()) for i in range(len(refs))]
        _assert_same(table, refs)
        if step == 2:
            spawn(3, step + 1)  # new tracks join mid-way
        if step == 6:  # tracks leave: rows are dropped and the rest stay aligned
            gone = np.zeros(len(table), bool)
            gone[[0, 4]] = True
            table.remove(gone)
            refs = [kf for i, kf in enumerate(refs) if not gone[i]]
            matched = [m for i, m in enumerate(matched) if not gone[i]]
            motion = [v for i, v in enumerate(motion) if not gone[i]]
            _assert_same(table, refs)
    assert len(refs) == 6 and np.all(table.mean[:, 2:4] > 1.0)  # no size clamp interfered


def test_tracking_kalman_box_conversions_roundtrip() -> None:
    xyxy = np.array([[1.0, 2, 11, 22], [0, 0, 5, 5]])
    np.testing.assert_allclose(cxcywh_to_xyxy(xyxy_to_cxcywh(xyxy)), xyxy)
    np.testing.assert_allclose(cxcywh_to_xyxy(xyxy_to_cxcywh(xyxy), 0.5), [[-4, -8, 16, 32], [-2.5, -2.5, 7.5, 7.5]])
