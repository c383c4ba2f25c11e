"""OpenVINO backend (CPU): reads the same ONNX files as ONNX Runtime, or OpenVINO IR (.xml).

Precision: FP32 or BF16 through `INFERENCE_PRECISION_HINT` (the weights stay FP32 in the file);
INT8 comes from the model file itself (Q/DQ ONNX or an NNCF-quantised IR), run with the FP32
hint for the parts left in float. OpenVINO on CPU is fastest with static spatial shapes, so the
model is compiled once per distinct input (H, W) with a dynamic batch (a camera wall has a
handful of sizes, while the batcher's batch size varies call to call); each compiled model keeps
one infer request, reused call after call.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np

from engines.base import TensorSpec
from pipeline.errors import ModelError

PerformanceHint = Literal["LATENCY", "THROUGHPUT"]
# Argus precision name -> INFERENCE_PRECISION_HINT value. INT8 lives in the file (engines.quantize's
# "u8s8-openvino"); its float parts (score branch, head, Concat/Split/Add) run in FP32: on 100 frames of
# vtest.mp4 + bus/zidane that kept recall 1.0, mean OKS 0.995, score MAE 0.011 at 15.5 / 13.3 ms/img
# (batch 1 / 8), where OpenVINO's default (BF16 on this CPU) gave 0.967, 0.996, 0.012 at 15.7 / 13.6.
# BF16 alone ran slower than FP32 here (45 vs 31 ms/img).
PRECISION_HINTS: dict[str, str | None] = {"fp32": "f32", "bf16": "bf16", "fp16": "f16", "int8": "f32"}
MAX_COMPILED_SHAPES = 8


def import_openvino() -> Any:
    """The `openvino` module, or a ModelError saying how to install it."""
    try:
        import openvino
    except ImportError:
        raise ModelError("backend 'openvino' needs the OpenVINO runtime: "
                         "pip install 'argus-pipeline[openvino]'") from None
    return openvino


def _spec(port: Any, dtype: str) -> TensorSpec:
    shape = tuple(d.get_length() if d.is_static else -1 for d in port.get_partial_shape())
    return TensorSpec(port.get_any_name(), shape, dtype)


class OpenVinoEngine:
    """An OpenVINO model behind the `Engine` protocol.

    Args:
        path: .onnx or .xml (IR) file.
        precision: "fp32", "bf16", "fp16" or "int8" (int8 needs a quantised file).
        threads: inference threads (0 = OpenVINO's choice).
        hint: "LATENCY" (one request, all cores on it) or "THROUGHPUT" (several streams).
        device: "cpu" (OpenVINO's GPU/NPU plugins are not wired up).
    """

    def __init__(self, path: Path, *, precision: str = "fp32", threads: int = 0,
                 hint: PerformanceHint = "LATENCY", device: str = "cpu") -> None:
        ov = import_openvino()
        if device != "cpu":
            raise ModelError(f"{path}: backend 'openvino' runs on the CPU here, not {device}")
        if precision not in PRECISION_HINTS:
            raise ModelError(f"{path}: OpenVINO precision must be one of {', '.join(PRECISION_HINTS)}")
        if path.suffix not in (".onnx", ".xml"):
            raise ModelError(f"{path}: OpenVINO reads .onnx or .xml (IR) files, not '{path.suffix}'")
        self.core = ov.Core()
        try:
            self.model = self.core.read_model(str(path))
        except Exception as exc:  # OpenVINO raises RuntimeError subclasses with multi-line messages
            lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
            detail = lines[-1] if lines else str(exc)
            raise ModelError(f"{path}: not a model OpenVINO can read ({detail})") from None
        self.config: dict[str, str] = {"PERFORMANCE_HINT": hint}
        if PRECISION_HINTS[precision]:
            self.config["INFERENCE_PRECISION_HINT"] = str(PRECISION_HINTS[precision])
        if threads:
            self.config["INFERENCE_NUM_THREADS"] = str(threads)
        self.inputs: dict[str, TensorSpec] = {
            p.get_any_name(): _spec(p, p.get_element_type().to_dtype().name) for p in self.model.inputs}
        self.outputs: dict[str, TensorSpec] = {
            p.get_any_name(): _spec(p, "float32") for p in self.model.outputs}
        self.metadata: dict[str, str] = _metadata(path, self.model)
        self._compiled: dict[tuple[tuple[int, ...], ...], Any] = {}

    def _request(self, feeds: Mapping[str, np.ndarray]) -> Any:
        shapes = tuple((-1, *feeds[name].shape[1:]) for name in self.inputs)  # dynamic batch only
        request = self._compiled.get(shapes)
        if request is None:
            if len(self._compiled) >= MAX_COMPILED_SHAPES:
                self._compiled.pop(next(iter(self._compiled)))
            model = self.model.clone()
            model.reshape(dict(zip(self.inputs, [list(s) for s in shapes], strict=True)))
            request = self.core.compile_model(model, "CPU", self.config).create_infer_request()
            self._compiled[shapes] = request
        return request

    def __call__(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        request = self._request(feeds)
        request.infer({name: np.ascontiguousarray(feeds[name]) for name in self.inputs}, share_inputs=True)
        return {name: request.get_tensor(name).data.copy() for name in self.outputs}

    def close(self) -> None:
        self._compiled.clear()


def _metadata(path: Path, model: Any) -> dict[str, str]:
    """ultralytics metadata (names, kpt_shape, stride): ONNX metadata_props, or the IR's rt_info."""
    if path.suffix == ".onnx":
        from engines.onnxruntime import read_metadata

        return read_metadata(path)
    meta: dict[str, str] = {}
    if model.has_rt_info(["model_info"]):
        for key, value in model.get_rt_info()["model_info"].items():
            meta[key] = value.astype(str)
    return meta
