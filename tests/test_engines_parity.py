"""Backends agree output for output on bus.jpg and zidane.jpg: ONNX Runtime FP32 vs PyTorch, OpenVINO FP32 vs
ONNX Runtime (same people, boxes and keypoints within 1 px, scores within 1e-3)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from engines.loader import load_engine
from pipeline.types import Detections
from stages.models.ultralytics import onnx_for, resolve_weights
from stages.models.yolo import YoloAdapter

pytest.importorskip("ultralytics", reason="parity needs ultralytics (the PyTorch reference and the images)")


def _images() -> dict[str, np.ndarray]:
    import cv2
    from ultralytics.utils import ASSETS

    return {name: cv2.imread(str(ASSETS / name)) for name in ("bus.jpg", "zidane.jpg")}


def _detect(adapter: YoloAdapter, image: np.ndarray) -> Detections:
    hw = adapter.input_shape(*image.shape[:2])
    tensor, boxes = adapter.preprocess([image], hw)
    output = adapter.engine({adapter.input.name: tensor})[adapter.output.name]
    return adapter.postprocess(output, boxes, [image.shape[:2]])[0]


@pytest.fixture(scope="module")
def reference() -> dict[str, Detections]:
    engine = load_engine(onnx_for("yolo11n-pose", 640), backend="onnxruntime", threads=2)
    adapter = YoloAdapter(engine)
    return {name: _detect(adapter, image) for name, image in _images().items()}


def _assert_same(ref: Detections, got: Detections) -> None:
    assert len(ref.score) >= 2, "the reference must find people for the comparison to mean anything"
    assert len(got.score) == len(ref.score)
    np.testing.assert_array_equal(got.class_id, ref.class_id)
    np.testing.assert_allclose(got.xyxy, ref.xyxy, atol=1.0)
    np.testing.assert_allclose(got.score, ref.score, atol=1e-3)
    np.testing.assert_allclose(got.keypoints[..., :2], ref.keypoints[..., :2], atol=1.0)
    np.testing.assert_allclose(got.keypoints[..., 2], ref.keypoints[..., 2], atol=1e-3)


def test_engines_parity_torch_matches_onnxruntime(reference: dict[str, Detections]) -> None:
    engine = load_engine(resolve_weights("yolo11n-pose"), backend="torch", threads=2)
    adapter = YoloAdapter(engine)
    assert adapter.num_keypoints == 17
    for name, image in _images().items():
        _assert_same(reference[name], _detect(adapter, image))


@pytest.mark.skipif(importlib.util.find_spec("openvino") is None, reason="OpenVINO not installed")
def test_engines_parity_openvino_matches_onnxruntime(reference: dict[str, Detections]) -> None:
    engine = load_engine(onnx_for("yolo11n-pose", 640), backend="openvino", precision="fp32", threads=2)
    adapter = YoloAdapter(engine)
    for name, image in _images().items():
        _assert_same(reference[name], _detect(adapter, image))


@pytest.mark.skipif(importlib.util.find_spec("openvino") is None, reason="OpenVINO not installed")
def test_openvino_pixel_input_matches_float_input() -> None:
    """Normalising inside the graph (uint8 BGR NHWC in) gives the same detections as numpy's float letterbox."""
    path = onnx_for("yolo11n-pose", 640)
    plain = YoloAdapter(load_engine(path, backend="openvino", precision="fp32", threads=2))
    pixels = YoloAdapter(load_engine(path, backend="openvino", precision="fp32", threads=2, pixel_input=True))
    assert pixels.pixel_input and not plain.pixel_input
    assert pixels.input.dtype == "uint8" and pixels.input.shape[3] == 3
    for image in _images().values():
        hw = pixels.input_shape(*image.shape[:2])
        tensor, _ = pixels.preprocess([image, image], hw)
        assert tensor.dtype == np.uint8 and tensor.shape == (2, *hw, 3)
        _assert_same(_detect(plain, image), _detect(pixels, image))
