"""TensorRT backend without a GPU: every runtime call exists in the installed TensorRT, the builder is
unit-tested up to its first GPU call, and errors are clear (no segfault). GPU tests run behind `gpu`."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from engines import tensorrt_build
from engines.tensorrt import GRAPH_CALLS, RUNTIME_CALLS, GraphCache, gpu_count
from pipeline.errors import ModelError

TRT_MODULE = next((m for m in ("tensorrt", "tensorrt_lean") if importlib.util.find_spec(m)), None)


@pytest.mark.skipif(TRT_MODULE is None, reason="neither tensorrt nor tensorrt-lean installed ([tensorrt])")
def test_engines_tensorrt_runtime_calls_exist_in_installed_tensorrt() -> None:
    trt = importlib.import_module(TRT_MODULE)  # importing creates no TensorRT object: safe without a GPU
    missing = [f"{cls}.{name}" for cls, names in RUNTIME_CALLS.items() for name in names
               if not hasattr(getattr(trt, cls), name)]
    assert not missing, f"{trt.__name__} {trt.__version__} lacks {missing}"
    assert hasattr(trt, "nptype")
    assert hasattr(trt.TensorIOMode, "INPUT")


@pytest.mark.skipif(importlib.util.find_spec("cuda") is None, reason="cuda-python not installed ([tensorrt])")
def test_engines_tensorrt_cuda_graph_calls_exist_in_installed_cuda_python() -> None:
    from cuda.bindings import runtime  # importing needs no GPU

    assert not [name for name in GRAPH_CALLS if not hasattr(runtime, name)]
    assert hasattr(runtime.cudaStreamCaptureMode, "cudaStreamCaptureModeThreadLocal")


def test_engines_tensorrt_graph_cache_recaptures_only_on_a_new_shape() -> None:
    captured: list[int] = []
    destroyed: list[int] = []
    cache = GraphCache(lambda: captured.append(len(captured)) or captured[-1], destroyed.append)
    a, b = ((1, 3, 480, 640),), ((4, 3, 480, 640),)
    assert cache.get(a) == cache.get(a) == 0
    assert cache.get(b) == 1 and destroyed == [0]
    assert cache.get(a) == 2 and destroyed == [0, 1]
    cache.release()
    cache.release()
    assert destroyed == [0, 1, 2] and cache.captures == 3


def test_engines_tensorrt_graph_cache_failed_capture_keeps_nothing() -> None:
    def fail() -> None:
        raise ModelError("not capturable")

    cache = GraphCache(fail, lambda graph: pytest.fail("nothing to destroy"))
    with pytest.raises(ModelError):
        cache.get(((1, 3, 32, 32),))
    assert cache.graph is None and cache.key is None
    cache.release()


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is None, reason="full tensorrt not installed")
def test_engines_tensorrt_builder_calls_exist() -> None:
    import tensorrt as trt

    missing = [f"{cls}.{name}" for cls, names in tensorrt_build.BUILDER_CALLS.items() for name in names
               if not hasattr(getattr(trt, cls), name)]
    assert not missing
    assert tensorrt_build.strongly_typed_flag(trt) > 0


def test_engines_tensorrt_strongly_typed_flag_reads_the_enum() -> None:
    for value in (1, 5):  # TensorRT 10 and 11 number it differently
        fake = SimpleNamespace(NetworkDefinitionCreationFlag=SimpleNamespace(STRONGLY_TYPED=value))
        assert tensorrt_build.strongly_typed_flag(fake) == 1 << value


class _Recorder:
    """Stands in for the tensorrt module: records every builder call, fails none."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []
        recorder = self

        class Obj:
            def __init__(self, *args: object) -> None:
                pass

            def __getattr__(self, name: str):
                def call(*args: object) -> object:
                    recorder.calls.append((name, *args))
                    images = SimpleNamespace(name="images", shape=(-1, 3, -1, -1))
                    return {"parse_from_file": True, "build_serialized_network": b"plan",
                            "get_input": images}.get(name, Obj())
                return call

            num_inputs = 1
            num_errors = 0

        self.Logger = type("Logger", (Obj,), {"WARNING": 2})
        self.Builder = self.OnnxParser = Obj
        self.NetworkDefinitionCreationFlag = SimpleNamespace(STRONGLY_TYPED=1)
        self.MemoryPoolType = SimpleNamespace(WORKSPACE="workspace")


def test_engines_tensorrt_build_uses_strongly_typed_profile(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("engines.onnxruntime.read_metadata", lambda path: {"kpt_shape": "[17, 3]"})
    from stages.models.yolo_recipe import tensorrt_shapes

    trt = _Recorder()
    out = tmp_path / "m.engine"
    tensorrt_build._build(trt, Path("m.onnx"), tensorrt_shapes(640), out)
    names = [c[0] for c in trt.calls]
    assert ("create_network", 2) in trt.calls  # 1 << STRONGLY_TYPED, nothing else
    assert not any("set_flag" in n for n in names), "strongly typed: no precision flags"
    shape = next(c for c in trt.calls if c[0] == "set_shape")
    assert shape[1:] == ("images", (1, 3, 32, 32), (4, 3, 640, 640), (8, 3, 640, 640))
    assert out.read_bytes() == b"plan"
    assert "kpt_shape" in (tmp_path / "m.engine.json").read_text()


def test_engines_tensorrt_build_wants_one_input(tmp_path: Path) -> None:
    trt = _Recorder()
    trt.Builder.num_inputs = 2  # the network the recorder's parser "reads"
    shapes = tensorrt_build.ShapeProfile((1, 3, 32, 32), (1, 3, 64, 64), (1, 3, 64, 64))
    with pytest.raises(ModelError, match=r"one input expected.*found 2"):
        tensorrt_build._build(trt, Path("m.onnx"), shapes, tmp_path / "m.engine")
    assert not (tmp_path / "m.engine").exists()


def test_engines_tensorrt_build_checks_gpu_before_tensorrt(monkeypatch: pytest.MonkeyPatch) -> None:
    if gpu_count()[0]:
        pytest.skip("a GPU is present")
    monkeypatch.setattr(tensorrt_build, "import_builder", lambda: pytest.fail("TensorRT used without a GPU"))
    shapes = tensorrt_build.ShapeProfile((1, 3, 32, 32), (1, 3, 64, 64), (1, 3, 64, 64))
    with pytest.raises(ModelError, match="needs a usable GPU"):
        tensorrt_build.build_engine(Path("x.onnx"), shapes=shapes, device="cuda:0")


def _built_pose_engine() -> Path:
    """The yolo11n-pose TensorRT engine, built (cached) on this GPU; skips without GPU or TensorRT."""
    if not gpu_count()[0]:
        pytest.skip(f"no usable GPU: {gpu_count()[1]}")
    if importlib.util.find_spec("tensorrt") is None:
        pytest.skip("full tensorrt (builder) not installed")
    from stages.models.ultralytics import onnx_for
    from stages.models.yolo_recipe import tensorrt_shapes

    return tensorrt_build.build_engine(onnx_for("yolo11n-pose", 640), shapes=tensorrt_shapes(640))


@pytest.mark.gpu
def test_engines_tensorrt_runs_on_gpu(tmp_path: Path) -> None:
    from engines.loader import load_engine

    path = _built_pose_engine()
    engine = load_engine(path, backend="tensorrt", device="cuda:0")
    out = engine({"images": np.zeros((2, 3, 480, 640), np.float32)})["output0"]
    assert out.shape == (2, 56, 6300)


@pytest.mark.gpu
def test_engines_tensorrt_cuda_graph_matches_plain_execution() -> None:
    from engines.loader import load_engine

    path = _built_pose_engine()
    plain = load_engine(path, backend="tensorrt", device="cuda:0")
    graphed = load_engine(path, backend="tensorrt", device="cuda:0", cuda_graph=True)
    rng = np.random.default_rng(0)
    for shape in [(1, 3, 480, 640), (1, 3, 480, 640), (2, 3, 384, 640), (1, 3, 480, 640)]:
        feeds = {"images": rng.random(shape, dtype=np.float32)}
        np.testing.assert_allclose(graphed(feeds)["output0"], plain(feeds)["output0"], rtol=1e-3, atol=1e-2)
    assert graphed.graphs is not None and graphed.graphs.captures == 3  # new shape, new shape, back
