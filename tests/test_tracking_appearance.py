"""Appearance for tracking: feature-map outputs, pooled embeddings, the gallery, re-identification,
appearance veto, the Siamese single-object tracker and the re-id benchmark's scoring."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from argus.benchmarks.reid import _hide, _idf1
from pipeline.config import load_config
from pipeline.errors import ConfigError
from pipeline.types import Detections, FeatureMap
from stages.models.appearance import pool_embeddings
from stages.tracking.appearance import DEFAULT_HEAD, EmbeddingHead, Gallery
from stages.tracking.argus import ArgusTracker
from stages.tracking.siamese_sot import SiameseSot, normalised_correlation


def _unit(v: list[float]) -> np.ndarray:
    a = np.asarray(v, np.float32)
    return a / np.linalg.norm(a)


def _dets(boxes: list[list[float]], emb: list[np.ndarray], score: float = 0.9) -> Detections:
    n = len(boxes)
    return Detections(xyxy=np.asarray(boxes, np.float32).reshape(n, 4), score=np.full(n, score, np.float32),
                      class_id=np.zeros(n, np.int32),
                      embedding=np.asarray(emb, np.float32).reshape(n, -1) if n else np.zeros((0, 3), np.float32))


RED, BLUE = _unit([1, 0, 0.1]), _unit([0, 1, 0.1])


def test_gallery_blends_and_forgets() -> None:
    g = Gallery(momentum=0.5)
    g.update(np.array([7, 3]), np.stack([RED, BLUE]))
    known, emb = g.lookup(np.array([3, 5, 7]))
    assert known.tolist() == [True, False, True]
    np.testing.assert_allclose(emb[0], BLUE, atol=1e-6)
    np.testing.assert_allclose(emb[1], 0)
    g.update(np.array([7]), BLUE[None])
    blended = g.lookup(np.array([7]))[1][0]
    np.testing.assert_allclose(blended, _unit(list(0.5 * RED + 0.5 * BLUE)), atol=1e-6)
    g.forget([7])
    assert g.lookup(np.array([7]))[0].tolist() == [False]


def test_pool_embeddings_follow_letterbox_and_stripes() -> None:
    data = np.zeros((2, 40, 40), np.float32)
    data[0, 10:20, 20:30] = 1.0  # channel 0 lights the top half of the box, channel 1 the bottom
    data[1, 20:30, 20:30] = 1.0
    fmap = FeatureMap(data, stride=4, scale=0.5, pad_x=8.0, pad_y=0.0)  # frame px -> cells: (x*0.5+8)/4
    box = np.array([[144, 80, 224, 240]], np.float32)  # cells x 20..30, y 10..30
    emb = pool_embeddings(fmap, box, stripes=2)
    np.testing.assert_allclose(emb[0], [1, 0, 0, 1], atol=1e-6)


@pytest.mark.parametrize("recover_buffer", [0.2, 0.0])  # re-identification does not need recovery on
def test_argus_reidentifies_a_lost_person_by_appearance(recover_buffer: float) -> None:
    tracker = ArgusTracker(new_track_score=0.5, lost_frames=5, reid_frames=60, recover_buffer=recover_buffer)
    for f in range(10):
        tracker.update(_dets([[100 + 2 * f, 100, 150 + 2 * f, 220]], [RED]), f)
    first = tracker.update(_dets([[120, 100, 170, 220]], [RED]), 10).track_id[0]
    for f in range(11, 51):  # 40 frames unseen: far beyond lost_frames
        tracker.update(_dets([], []), f)
    again = tracker.update(_dets([[150, 100, 200, 220]], [RED]), 51)
    for f in range(52, 55):
        again = tracker.update(_dets([[150, 100, 200, 220]], [RED]), f)
    assert again.track_id[0] == first


def test_argus_does_not_reidentify_someone_else() -> None:
    tracker = ArgusTracker(new_track_score=0.5, lost_frames=5, reid_frames=60)
    for f in range(11):
        first = tracker.update(_dets([[100, 100, 150, 220]], [RED]), f).track_id[0]
    for f in range(11, 31):
        tracker.update(_dets([], []), f)
    for f in range(31, 35):
        other = tracker.update(_dets([[105, 100, 155, 220]], [BLUE]), f)
    assert other.track_id[0] not in (-1, first)


def test_argus_appearance_veto_keeps_crossing_people_apart() -> None:
    """Two people swap places behind one box's path: IoU alone would hand A's id to B."""
    with_app = ArgusTracker(new_track_score=0.5)
    without = ArgusTracker(new_track_score=0.5, appearance=False)
    ids = {}
    for name, tracker in (("app", with_app), ("motion", without)):
        for f in range(5):
            a = tracker.update(_dets([[100, 100, 150, 220]], [RED]), f).track_id[0]
        out = tracker.update(_dets([[102, 100, 152, 220]], [BLUE]), 5)  # someone else where A was
        ids[name] = (a, out.track_id[0])
    assert ids["motion"][1] == ids["motion"][0]  # motion alone continues A's id on B
    assert ids["app"][1] != ids["app"][0]


def test_normalised_correlation_matches_brute_force() -> None:
    rng = np.random.default_rng(0)
    region = rng.normal(size=(3, 9, 11)).astype(np.float32)
    t = rng.normal(size=(3, 4, 5)).astype(np.float32)
    t = (t - t.mean()) / np.linalg.norm(t - t.mean())
    got = normalised_correlation(region, t)
    for i in range(got.shape[0]):
        for j in range(got.shape[1]):
            w = region[:, i:i + 4, j:j + 5]
            w = w - w.mean()
            assert got[i, j] == pytest.approx(float((w * t).sum() / np.linalg.norm(w)), abs=1e-4)


def test_siamese_sot_finds_the_template_where_it_moved() -> None:
    rng = np.random.default_rng(1)
    person = rng.normal(size=(8, 10, 4)).astype(np.float32) + 2
    first = np.zeros((8, 60, 60), np.float32)
    first[:, 20:30, 20:24] = person
    second = np.zeros_like(first)
    second[:, 23:33, 25:29] = person  # moved 3 cells down, 5 right
    sot = SiameseSot(min_peak=0.6)
    sot.remember(FeatureMap(first, 4, 1.0, 0.0, 0.0), np.array([1]), np.array([[80, 80, 96, 120]], np.float32))
    found = sot.locate(FeatureMap(second, 4, 1.0, 0.0, 0.0), 1, np.array([96, 88, 112, 128], np.float32))
    assert found is not None
    box, peak = found
    np.testing.assert_allclose(box, [100, 92, 116, 132])
    assert peak > 0.99
    assert sot.locate(FeatureMap(np.zeros_like(first), 4, 1.0, 0.0, 0.0), 1,
                      np.array([84, 84, 100, 124], np.float32)) is None  # nothing there: stop


def test_argus_single_object_carries_a_missed_track() -> None:
    rng = np.random.default_rng(2)
    person = rng.normal(size=(8, 10, 4)).astype(np.float32) + 2
    tracker = ArgusTracker(new_track_score=0.5, single_object=True, appearance=False, min_hits=2)
    box = [80, 80, 96, 120]
    for f in range(4):
        data = np.zeros((8, 60, 60), np.float32)
        data[:, 20:30, 20:24] = person
        out = tracker.update(_dets([box], [RED]), f, feature_map=FeatureMap(data, 4, 1.0, 0.0, 0.0))
    tid = out.track_id[0]
    assert out.extra["carried"].tolist() == [False]  # a detector row
    other = [200, 200, 216, 240]  # a detector row alongside the carried one
    carried = tracker.update(_dets([other], [BLUE]), 4, feature_map=FeatureMap(data, 4, 1.0, 0.0, 0.0))
    assert carried.track_id.tolist() == [-1, tid]
    np.testing.assert_allclose(carried.xyxy[1], box, atol=4)
    assert carried.extra["carried"].tolist() == [False, True]
    assert carried.extra["carried"].dtype == bool
    assert tracker.update(_dets([], []), 5).extra["carried"].shape == (0,)  # no feature map: still there


def test_argus_without_single_object_adds_no_carried_column() -> None:
    tracker = ArgusTracker(new_track_score=0.5, appearance=False)
    for f in range(3):
        out = tracker.update(_dets([[80, 80, 96, 120]], [RED]), f,
                             feature_map=FeatureMap(np.ones((8, 60, 60), np.float32), 4, 1.0, 0.0, 0.0))
    assert out.track_id.tolist() == [1] and "carried" not in out.extra and out.column("carried") is None


def test_config_single_object_needs_feature_maps() -> None:
    text = "stages:\n  - type: pose\n  - type: track\n    single_object: true\n"
    with pytest.raises(ConfigError, match=r"stages.1 \(track\): single_object needs .*feature_maps: true"):
        load_config(Path("cfg.yaml"), text=text)
    config = load_config(Path("cfg.yaml"), ["stages.0.feature_maps=true"], text=text)
    assert config.stages[1].single_object


def test_reid_bench_scoring() -> None:
    ref = [np.array([1, 2]) for _ in range(30)]
    keep, gaps = _hide(ref, gap=10)
    assert len(gaps) == 2 and sum((~k).sum() for k in keep) == 20
    assert _idf1(ref, ref, keep) == 1.0
    swapped = [ids if f < 15 else ids[::-1] for f, ids in enumerate(ref)]
    assert _idf1(ref, swapped, keep) < 0.8


@pytest.mark.skipif(not DEFAULT_HEAD.is_file(), reason="the built-in embedding head is not in this checkout")
def test_builtin_head_gives_unit_embeddings() -> None:
    head = EmbeddingHead(DEFAULT_HEAD)
    out = head(np.random.default_rng(0).random((5, 192), np.float32))
    assert out.shape == (5, 64)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)


@pytest.mark.skipif(importlib.util.find_spec("ultralytics") is None, reason="needs ultralytics to export")
def test_exported_model_has_feature_maps_on_every_cpu_backend() -> None:
    from engines.loader import load_engine
    from stages.models.feature_taps import TORCH_TAPS
    from stages.models.ultralytics import onnx_for, resolve_weights

    x = np.random.default_rng(0).random((1, 3, 256, 320), np.float32)
    onnx = load_engine(onnx_for("yolo11n-pose", 640), backend="onnxruntime", threads=2)
    torch = load_engine(resolve_weights("yolo11n-pose"), backend="torch", threads=2, taps=TORCH_TAPS)
    a, b = onnx({"images": x})["feat_s8"], torch({"images": x})["feat_s8"]
    assert a.shape == (1, 64, 32, 40)  # module 2 (stride 4), average-pooled 2x2 in the graph
    np.testing.assert_allclose(a, b, atol=1e-3)
