"""Agreement of reduced precision with FP32: the metric itself, and OpenVINO BF16 and INT8 (CPU default) on
100 frames of vtest.mp4 plus bus.jpg and zidane.jpg (person recall >= 0.95 at IoU 0.5, mean OKS >= 0.90)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from engines.agreement import agreement, match, oks
from pipeline.types import Detections


def _dets(boxes: list[list[float]], kpts: np.ndarray | None = None) -> Detections:
    xyxy = np.asarray(boxes, np.float32).reshape(-1, 4)
    n = len(xyxy)
    if kpts is None:
        kpts = np.zeros((n, 17, 3), np.float32)
        kpts[..., 0], kpts[..., 1], kpts[..., 2] = xyxy[:, None, 0] + 5, xyxy[:, None, 1] + 5, 1.0
    return Detections(xyxy=xyxy, score=np.full(n, 0.9, np.float32), class_id=np.zeros(n, np.int32),
                      keypoints=kpts)


def test_engines_agreement_metric_counts_misses_and_keypoint_shift() -> None:
    ref = _dets([[0, 0, 100, 200], [300, 0, 400, 200]])
    same = agreement([ref], [ref])
    assert (same.recall, same.mean_oks) == (1.0, 1.0)
    one = agreement([ref], [ref[np.array([True, False])]])
    assert one.recall == 0.5
    shifted = ref.keypoints.copy()
    shifted[..., 0] += 20
    moved = agreement([ref], [_dets([[0, 0, 100, 200], [300, 0, 400, 200]], shifted)])
    assert moved.recall == 1.0
    assert 0.0 < moved.mean_oks < 0.9


def test_engines_agreement_match_is_one_to_one_above_iou() -> None:
    ref = _dets([[0, 0, 100, 100]])
    cand = _dets([[0, 0, 100, 100], [1, 1, 101, 101], [60, 60, 160, 160]])
    assert match(ref, cand) == [(0, 0)]
    assert oks(ref.keypoints[0], ref.keypoints[0], 100.0) == 1.0


@pytest.fixture(scope="module")
def fp32_reference(vtest: Path) -> tuple[list[np.ndarray], list[Detections]]:
    """100 frames of vtest.mp4 + bus.jpg + zidane.jpg and ONNX Runtime FP32's detections on them."""
    pytest.importorskip("ultralytics", reason="bus.jpg/zidane.jpg and the export need ultralytics")
    from argus.benchmarks.engines import detect, sample_images, video_frames
    from engines.loader import load_engine
    from stages.models.ultralytics import onnx_for
    from stages.models.yolo import YoloAdapter

    frames = video_frames(vtest, 100) + sample_images()
    engine = load_engine(onnx_for("yolo11n-pose", 640), backend="onnxruntime", threads=2)
    return frames, detect(YoloAdapter(engine), frames)


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("openvino") is None, reason="OpenVINO not installed")
def test_engines_agreement_bf16_keeps_people(fp32_reference) -> None:
    from argus.benchmarks.engines import detect
    from engines.loader import load_engine
    from stages.models.ultralytics import onnx_for
    from stages.models.yolo import YoloAdapter

    frames, ref = fp32_reference
    onnx = onnx_for("yolo11n-pose", 640)
    got = detect(YoloAdapter(load_engine(onnx, backend="openvino", precision="bf16", threads=2)),
                 frames)
    result = agreement(ref, got)
    assert result.reference >= 20
    assert result.recall >= 0.95, result
    assert result.mean_oks >= 0.90, result


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["openvino", "onnxruntime"])
def test_engines_agreement_int8_keeps_people(vtest: Path, fp32_reference, backend: str) -> None:
    pytest.importorskip(backend, reason=f"{backend} not installed")
    from argus.benchmarks.engines import detect
    from engines.artefacts import Request, calib_from, model_file
    from engines.loader import load_engine
    from stages.models.yolo import YoloAdapter
    from stages.models.yolo_recipe import yolo_recipe

    frames, ref = fp32_reference
    recipe = yolo_recipe("yolo11n-pose", 640)
    path = model_file(Request(recipe, backend, "int8"), calib_from([vtest], recipe.preprocess))
    got = detect(YoloAdapter(load_engine(path, backend=backend, precision="int8", threads=2)), frames)
    result = agreement(ref, got)
    assert result.reference >= 20
    assert result.recall >= 0.95, result
    assert result.mean_oks >= 0.90, result
