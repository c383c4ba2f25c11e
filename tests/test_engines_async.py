"""Engines with several named outputs: OpenVINO's submit/result and batch split across streams, ONNX Runtime's
I/O binding across shape changes. A tiny two-output ONNX model written on the fly stands in for YOLO."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from engines.base import Engine
from engines.loader import load_engine

onnx = pytest.importorskip("onnx", reason="writing the test model needs the onnx package ([export])")


@pytest.fixture(scope="module")
def two_outputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """x[B,3,H,W] -> y = 2x + 1 [B,3,H,W] and m = per-image channel means [B,3,1,1]."""
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Mul", ["x", "two"], ["x2"]), helper.make_node("Add", ["x2", "one"], ["y"]),
         helper.make_node("GlobalAveragePool", ["x"], ["m"])],
        "two_outputs",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["B", 3, "H", "W"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["B", 3, "H", "W"]),
         helper.make_tensor_value_info("m", TensorProto.FLOAT, ["B", 3, 1, 1])],
        [helper.make_tensor("two", TensorProto.FLOAT, [], [2.0]),
         helper.make_tensor("one", TensorProto.FLOAT, [], [1.0])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path_factory.mktemp("model") / "two_outputs.onnx"
    onnx.save(model, str(path))
    return path


def _expected(x: np.ndarray) -> dict[str, np.ndarray]:
    return {"y": 2 * x + 1, "m": x.mean(axis=(2, 3), keepdims=True)}


def _check(got: dict[str, np.ndarray], x: np.ndarray) -> None:
    assert set(got) == {"y", "m"}
    for name, want in _expected(x).items():
        np.testing.assert_allclose(got[name], want, rtol=1e-5, atol=1e-5, err_msg=name)


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_engines_async_every_named_output_across_shape_changes(two_outputs: Path, backend: str) -> None:
    pytest.importorskip(backend, reason=f"{backend} not installed")
    engine = load_engine(two_outputs, backend=backend, threads=1)
    assert isinstance(engine, Engine)
    rng = np.random.default_rng(0)
    kept = []
    for shape in [(1, 3, 8, 12), (5, 3, 8, 12), (2, 3, 16, 8), (1, 3, 8, 12), (5, 3, 8, 12)]:
        x = rng.random(shape, dtype=np.float32)
        got = engine({"x": x})
        _check(got, x)
        kept.append((got, x))
    for got, x in kept:  # results are the caller's: a later call never overwrites them
        _check(got, x)
    engine.close()


@pytest.mark.skipif(importlib.util.find_spec("openvino") is None, reason="OpenVINO not installed")
def test_engines_async_openvino_submit_result_in_any_order(two_outputs: Path) -> None:
    from engines.openvino import OpenVinoEngine

    engine = OpenVinoEngine(two_outputs)
    rng = np.random.default_rng(1)
    xs = [rng.random((n, 3, 8, 12), dtype=np.float32) for n in (1, 3, 2, 1)]
    handles = [engine.submit({"x": x}) for x in xs]
    for i in (2, 0, 3, 1):
        _check(engine.result(handles[i]), xs[i])
    with pytest.raises(Exception, match="already taken"):
        engine.result(handles[0])
    split = engine.submit({"x": xs[1]}, split=True)
    assert len(split.parts) == 3  # one request per frame, all in flight
    _check(engine.result(split), xs[1])
    view = engine.result(engine.submit({"x": xs[0]}), copy=False)  # the request's own tensors, no copy
    _check(view, xs[0])
    later = engine.submit({"x": xs[3]})  # the next submit reuses that request ...
    (_, request), = later.parts
    _check(engine.result(later), xs[3])
    assert np.shares_memory(view["y"], request.get_tensor("y").data)
    _check(view, xs[3])  # ... and overwrites the view: it was valid until then, as documented
    joined = engine.result(engine.submit({"x": xs[1]}, split=True), copy=False)  # several parts: joined copies
    _check(joined, xs[1])
    assert joined["y"].flags.owndata


@pytest.mark.skipif(importlib.util.find_spec("openvino") is None, reason="OpenVINO not installed")
@pytest.mark.parametrize("hint", ["AUTO", "LATENCY", "THROUGHPUT"])
def test_engines_async_openvino_hints_give_the_same_outputs(two_outputs: Path, hint: str) -> None:
    from engines.openvino import OpenVinoEngine

    engine = OpenVinoEngine(two_outputs, hint=hint)  # type: ignore[arg-type]
    x = np.random.default_rng(2).random((4, 3, 8, 12), dtype=np.float32)
    _check(engine({"x": x}), x)
    _check(engine({"x": x[:1]}), x[:1])


@pytest.mark.skipif(importlib.util.find_spec("openvino") is None, reason="OpenVINO not installed")
def test_engines_async_openvino_compiles_single_frames_with_a_static_batch(two_outputs: Path) -> None:
    from engines.openvino import OpenVinoEngine

    engine = OpenVinoEngine(two_outputs)
    rng = np.random.default_rng(3)
    one, five = rng.random((1, 3, 8, 12), dtype=np.float32), rng.random((5, 3, 8, 12), dtype=np.float32)
    _check(engine({"x": one}), one)
    _check(engine({"x": five}), five)
    pools = {(mode, shapes[0]): pool for (mode, shapes), pool in engine._pools.items()}
    assert set(pools) == {("LATENCY", (1, 3, 8, 12)), ("THROUGHPUT", (1, 3, 8, 12))}  # a batch: frame by frame
    for pool in pools.values():
        static = pool.compiled.inputs[0].get_partial_shape()
        assert static.is_static and static.to_shape()[0] == 1
