"""INT8 artefacts: the TensorRT-format graph is TensorRT-compatible, the YOLO recipe keeps its head float,
calibration checks its frame count and prepares frames as inference does, and cache keys follow the
calibration set and the nodes kept float."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engines.calibration import CalibrationSet, calibration_set
from pipeline.errors import ArgusError
from stages.models.yolo_recipe import HEAD_PREFIX, SCORE_BRANCH_PREFIX, calibration_inputs, keep_float

onnx = pytest.importorskip("onnx", reason="quantisation needs the onnx package ([export])")
from onnx import numpy_helper  # noqa: E402

from engines.quantize import float_nodes, int8_key, int8_onnx  # noqa: E402


def _letterbox(frames: list[np.ndarray]) -> np.ndarray:
    return calibration_inputs(frames, 640)


@pytest.fixture(scope="module")
def calib(vtest: Path) -> CalibrationSet:
    return calibration_set([vtest], _letterbox, count=32, minimum=32)


@pytest.fixture(scope="module")
def model_fp32() -> Path:
    pytest.importorskip("ultralytics", reason="the test model is exported from ultralytics weights")
    from stages.models.ultralytics import onnx_for

    return onnx_for("yolo11n-pose", 640)


def _initializers(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    return {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}


def test_engines_quantize_tensorrt_int8_graph_is_tensorrt_compatible(model_fp32: Path,
                                                                    calib: CalibrationSet) -> None:
    model = onnx.load(str(int8_onnx(model_fp32, calib, "tensorrt", keep_float)))
    inits = _initializers(model)
    qdq = [n for n in model.graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")]
    conv_weights = {n.input[1] for n in model.graph.node if n.op_type == "Conv"}
    weights = activations = 0
    for node in qdq:
        scale, zero = inits[node.input[1]], inits[node.input[2]]
        assert zero.dtype == np.int8, f"{node.name}: zero point {zero.dtype}, TensorRT reads int8 only"
        assert not zero.any(), f"{node.name}: non-zero zero point (TensorRT needs symmetric)"
        axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
        source = inits.get(node.input[0])
        if source is not None:
            assert source.dtype == np.int8, f"{node.name}: {source.dtype} constant (bias quantised?)"
        if source is not None and node.output[0] in conv_weights:  # a Conv weight: per output channel
            weights += 1
            assert scale.ndim == 1, node.name
            assert scale.size == source.shape[0], node.name
            assert axis == 0, node.name
        else:
            activations += 1
            assert scale.ndim == 0, f"{node.name}: activation scale must be per-tensor"
    assert weights > 50
    assert activations > 50
    for node in model.graph.node:  # no integer arithmetic outside Q/DQ
        assert node.op_type not in ("QLinearConv", "ConvInteger", "MatMulInteger"), node.name


def test_engines_quantize_keeps_head_non_conv_nodes_float(model_fp32: Path, calib: CalibrationSet) -> None:
    model = onnx.load(str(int8_onnx(model_fp32, calib, "u8s8", keep_float)))
    consumers: dict[str, list] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    head = [n for n in model.graph.node if n.name.startswith(HEAD_PREFIX) and n.op_type != "Conv"
            and n.op_type not in ("QuantizeLinear", "DequantizeLinear")]
    assert len(head) > 100
    for node in head:  # a head output may be quantised only on its way into a Conv
        for q in [c for out in node.output for c in consumers.get(out, []) if c.op_type == "QuantizeLinear"]:
            users = [u for dq in consumers.get(q.output[0], []) for u in consumers.get(dq.output[0], [])]
            assert all(u.op_type == "Conv" for u in users), f"{node.name} output quantised"
    inits = _initializers(model)
    u8 = [n for n in model.graph.node if n.op_type == "QuantizeLinear" and n.input[0] not in inits]
    assert inits[u8[0].input[2]].dtype == np.uint8  # U8S8: uint8 activations


def test_engines_quantize_openvino_format_leaves_conv_outputs_and_score_branch_float(
        model_fp32: Path, calib: CalibrationSet) -> None:
    model = onnx.load(str(int8_onnx(model_fp32, calib, "u8s8-openvino", keep_float)))
    consumers: dict[str, list] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    for conv in convs:  # SiLU follows in float, so OpenVINO fuses Conv + SiLU + the next quantisation
        assert not any(c.op_type == "QuantizeLinear" for c in consumers.get(conv.output[0], [])), conv.name
    float_weights = {t.name for t in model.graph.initializer}  # a quantised weight comes out of a DQ node
    score = [n for n in convs if n.name.startswith(SCORE_BRANCH_PREFIX)]
    assert score and all(n.input[1] in float_weights for n in score)
    assert sum(n.input[1] not in float_weights for n in convs) > 50


def test_engines_quantize_yolo_recipe_keeps_head_and_openvino_score_branch_float(model_fp32: Path) -> None:
    model = onnx.load(str(model_fp32), load_external_data=False)
    head = {n.name for n in model.graph.node if n.name.startswith(HEAD_PREFIX) and n.op_type != "Conv"}
    score = {n.name for n in model.graph.node if n.name.startswith(SCORE_BRANCH_PREFIX) and n.op_type == "Conv"}
    assert len(head) > 100 and score
    for fmt in ("u8s8", "tensorrt"):
        assert set(float_nodes(model, fmt, keep_float)) == head
    assert set(float_nodes(model, "u8s8-openvino", keep_float)) == head | score
    assert float_nodes(model, "u8s8", None) == []


def test_engines_quantize_cache_key_follows_calibration_set(model_fp32: Path, calib: CalibrationSet) -> None:
    a = int8_onnx(model_fp32, calib, "u8s8", keep_float)
    assert int8_onnx(model_fp32, calib, "u8s8", keep_float) == a  # cached
    model = onnx.load(str(model_fp32), load_external_data=False)
    keep = float_nodes(model, "u8s8", keep_float)
    key = int8_key(model_fp32, calib, "u8s8", keep)
    assert a.name == f"{model_fp32.stem}.int8-u8s8-{key}.onnx"
    other = CalibrationSet(calib.tensors[:-1], calib.source, "0" * 16)
    assert int8_key(model_fp32, other, "u8s8", keep) != key
    assert int8_key(model_fp32, calib, "u8s8", keep[1:]) != key  # one node less kept float: another file
    assert int8_key(model_fp32, calib, "u8s8", list(reversed(keep))) == key


def test_engines_calibration_prepares_frames_as_inference_does(vtest: Path, calib: CalibrationSet) -> None:
    from engines.calibration import read_frames
    from stages.models.yolo import letterbox_into

    assert calib.tensors.shape == (32, 3, 480, 640)  # vtest.mp4 is 768x576: rect mode 480x640
    first = read_frames(vtest, 32)[0]
    expected = np.empty((3, 480, 640), np.float32)
    letterbox_into(first, expected)
    np.testing.assert_array_equal(calib.tensors[0], expected)
    again = calibration_set([vtest], _letterbox, count=32, minimum=32)
    assert again.digest == calib.digest
    half = calibration_set([vtest], lambda frames: calibration_inputs(frames, 320), count=32, minimum=32)
    assert half.tensors.shape[2:] == (256, 320) and half.digest != calib.digest


def test_engines_calibration_too_few_frames_says_how_many(tmp_path: Path) -> None:
    import cv2

    for i in range(3):
        cv2.imwrite(str(tmp_path / f"{i}.jpg"), np.full((48, 64, 3), i * 40, np.uint8))
    with pytest.raises(ArgusError, match=r"at least 32 frames.*gave 3"):
        calibration_set([tmp_path], lambda frames: pytest.fail("too few frames must fail before preprocessing"))
