"""`auto` resolves in one place, logs why, and explicit choices fail clearly instead of falling back."""

from __future__ import annotations

import logging

import pytest

from engines import select
from engines.select import resolve
from pipeline.errors import ModelError


@pytest.fixture
def no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(select, "_gpu_count", lambda: (0, "cudaGetDeviceCount() failed"))
    monkeypatch.setattr(select, "_torch_cuda", lambda: False)
    monkeypatch.setattr(select, "cpu_has_amx", lambda: False)


def test_engines_select_auto_without_gpu_picks_cpu_runtime_and_logs(no_gpu: None,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    select._log_once.cache_clear()
    with caplog.at_level(logging.INFO, logger="engines.select"):
        choice = resolve("auto", "auto", "auto", what="stage 'pose'")
        resolve("auto", "auto", "auto", what="stage 'pose'")
    assert choice.device == "cpu"
    assert choice.backend in ("openvino", "onnxruntime")
    assert choice.precision == "fp32"
    assert "cudaGetDeviceCount" in choice.reason
    assert len([r for r in caplog.records if "stage 'pose'" in r.message]) == 1


def test_engines_select_auto_picks_int8_on_cpu_only_once_built(no_gpu: None) -> None:
    assert resolve("openvino", "auto", "cpu").precision == "fp32"
    assert resolve("openvino", "auto", "cpu", int8_built=lambda b: True).precision == "int8"
    assert resolve("torch", "auto", "cpu", int8_built=lambda b: True).precision == "fp32"
    first_use = resolve("onnxruntime", "auto", "cpu", int8_built=lambda b: "built on first use")
    assert (first_use.precision, first_use.reason.endswith("precision int8: built on first use")) == ("int8", True)
    assert resolve("openvino", "auto", "cpu", int8_built=lambda b: None).precision == "fp32"


def test_engines_select_auto_picks_bf16_instead_of_int8_on_amx(no_gpu: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(select, "cpu_has_amx", lambda: True)
    amx = resolve("openvino", "auto", "cpu", int8_built=lambda b: "built on first use")
    assert (amx.precision, amx.reason.endswith(select.AMX_BF16_REASON)) == ("bf16", True)
    assert resolve("openvino", "auto", "cpu").precision == "fp32"  # no INT8 wanted: FP32 as before
    assert resolve("openvino", "auto", "cpu", int8_built=lambda b: True, runs=("fp32", "int8")).precision == "int8"
    assert resolve("onnxruntime", "auto", "cpu", int8_built=lambda b: True).precision == "int8"
    assert resolve("openvino", "int8", "cpu").precision == "int8"  # an explicit choice stands


def test_engines_select_auto_prefers_tensorrt_with_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(select, "_gpu_count", lambda: (1, ""))
    monkeypatch.setattr(select, "_installed", lambda module: module in ("tensorrt_lean", "openvino"))
    choice = resolve("auto", "auto", "auto")
    assert (choice.backend, choice.device, choice.precision) == ("tensorrt", "cuda:0", "fp16")


def test_engines_select_auto_uses_torch_cuda_without_tensorrt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(select, "_gpu_count", lambda: (1, ""))
    monkeypatch.setattr(select, "_installed", lambda module: module in ("torch", "openvino"))
    monkeypatch.setattr(select, "_torch_cuda", lambda: True)
    choice = resolve("auto", "auto", "auto")
    assert (choice.backend, choice.precision) == ("torch", "fp16")
    assert "TensorRT not installed" in choice.reason


def test_engines_select_rejects_unsupported_precision() -> None:
    with pytest.raises(ModelError, match="torch runs precision fp32, fp16, not int8"):
        resolve("torch", "int8", "cpu")


def test_engines_select_explicit_tensorrt_without_gpu_is_a_clear_error() -> None:
    from engines.tensorrt import TensorRtEngine, gpu_count

    if gpu_count()[0]:
        pytest.skip("a GPU is present: the no-GPU error path cannot be exercised")
    with pytest.raises(ModelError, match="needs a usable GPU"):
        TensorRtEngine(__import__("pathlib").Path("missing.engine"), device="cuda:0")
    with pytest.raises(ModelError, match="NVIDIA GPU"):
        TensorRtEngine(__import__("pathlib").Path("missing.engine"), device="cpu")
