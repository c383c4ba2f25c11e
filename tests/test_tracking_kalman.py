"""Batched Kalman filter vs filterpy's KalmanFilter with the same F, H, Q, R."""

from __future__ import annotations

import numpy as np
import pytest

filterpy_kalman = pytest.importorskip("filterpy.kalman", reason="filterpy is the reference implementation")

from stages.tracking.kalman import (  # noqa: E402
    BoxKalman,
    H,
    cxcywh_to_xyxy,
    full_cov,
    kf_predict,
    kf_update,
    transition,
    xyxy_to_cxcywh,
)


def _reference(mean: np.ndarray, cov: np.ndarray) -> filterpy_kalman.KalmanFilter:
    kf = filterpy_kalman.KalmanFilter(dim_x=8, dim_z=4)
    kf.x = mean.reshape(8, 1).copy()
    kf.P = cov.copy()
    kf.H = H.copy()
    return kf


@pytest.mark.parametrize("dt", [1.0, 0.5, 2.0, 3.7])
def test_tracking_kalman_matches_filterpy(dt: float) -> None:
    rng = np.random.default_rng(0)
    kal = BoxKalman(score_scaled=True)
    z0 = np.column_stack([rng.uniform(0, 600, 6), rng.uniform(0, 400, 6),
                          rng.uniform(10, 80, 6), rng.uniform(20, 200, 6)])
    mean, cov = kal.initiate(z0)
    mean[:, 4:] = rng.normal(0, 3, (6, 4))
    refs = [_reference(mean[i], cov[i]) for i in range(6)]
    for step in range(5):
        Q = kal.process_noise(mean, dt)
        mean, cov = kal.predict(mean, cov, dt)
        z = mean[:, :4] + rng.normal(0, 2, (6, 4))
        scores = rng.uniform(0.3, 1.0, 6)
        R = kal.measurement_noise(mean, scores)
        for i, kf in enumerate(refs):
            kf.F = transition(dt)
            kf.Q = Q[i]
            kf.predict()
            np.testing.assert_allclose(mean[i], kf.x.ravel(), rtol=1e-6, atol=1e-6)
            np.testing.assert_allclose(cov[i], kf.P, rtol=1e-6, atol=1e-6)
        if step == 2:
            continue  # a frame without measurements
        mean, cov = kal.update(mean, cov, z, scores)
        for i, kf in enumerate(refs):
            kf.update(z[i].reshape(4, 1), R=R[i])
            np.testing.assert_allclose(mean[i], kf.x.ravel(), rtol=1e-6, atol=1e-6)
            np.testing.assert_allclose(cov[i], kf.P, rtol=1e-6, atol=1e-6)


def test_tracking_kalman_generic_equations_match_filterpy() -> None:
    rng = np.random.default_rng(3)
    F, Q, R = transition(2.0), np.diag(rng.uniform(0.1, 2, 8)), np.diag(rng.uniform(0.5, 3, 4))
    a = rng.normal(size=(3, 8, 8))
    cov = a @ np.swapaxes(a, 1, 2) + np.eye(8)  # full (coupled) covariances
    mean = rng.normal(size=(3, 8))
    z = rng.normal(size=(3, 4))
    m1, c1 = kf_predict(mean, cov, F, Q)
    m2, c2 = kf_update(m1, c1, z, H, np.broadcast_to(R, (3, 4, 4)))
    for i in range(3):
        kf = _reference(mean[i], cov[i])
        kf.F, kf.Q, kf.R = F, Q, R
        kf.predict()
        np.testing.assert_allclose(m1[i], kf.x.ravel(), rtol=1e-6, atol=1e-6)
        kf.update(z[i].reshape(4, 1))
        np.testing.assert_allclose(m2[i], kf.x.ravel(), rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(c2[i], kf.P, rtol=1e-6, atol=1e-6)


def test_tracking_kalman_per_track_dt() -> None:
    kal = BoxKalman()
    mean, cov = kal.initiate(np.array([[100.0, 100, 20, 40], [50, 60, 30, 60]]))
    mean[:, 4] = 2.0
    dts = np.array([1.0, 3.0])
    m2, c2 = kal.predict(mean.copy(), cov.copy(), dts)  # predict works in place
    for i, dt in enumerate(dts):
        mi, ci = kal.predict(mean[i:i + 1].copy(), cov[i:i + 1].copy(), float(dt))
        np.testing.assert_allclose(m2[i], mi[0])
        np.testing.assert_allclose(c2[i], ci[0])
    assert m2[1, 0] == pytest.approx(50 + 6.0)


def test_tracking_kalman_box_conversions_roundtrip() -> None:
    xyxy = np.array([[1.0, 2, 11, 22], [0, 0, 5, 5]])
    np.testing.assert_allclose(cxcywh_to_xyxy(xyxy_to_cxcywh(xyxy)), xyxy)


def test_tracking_kalman_blocks_match_full_covariance() -> None:
    kal = BoxKalman()
    z = np.array([[100.0, 100, 20, 40], [50, 60, 30, 60]])
    mean, cov = kal.initiate(z)
    mean_b, var = kal.initiate_blocks(z)
    np.testing.assert_allclose(mean_b, mean)
    np.testing.assert_allclose(full_cov(var), cov)
