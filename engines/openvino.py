"""OpenVINO backend (CPU): reads the same ONNX files as ONNX Runtime, or OpenVINO IR (.xml).

Precision: FP32 or BF16 through `INFERENCE_PRECISION_HINT` (the weights stay FP32 in the file);
INT8 comes from the model file itself (Q/DQ ONNX, or an INT8 IR made elsewhere), run with the FP32
hint for the parts left in float. OpenVINO on CPU is fastest with static shapes, so the model is
compiled once per distinct input (H, W) and performance hint, with a static batch of 1: a batch
is run as one request per frame, all in flight at once (a dynamic batch is compiled only for an
unsplit `submit` of several frames). A dynamic batch cost 2.6 ms of 14
(INT8) and 1-3 ms of 28 (FP32) per frame at 480x640 against a static batch of 1 (60 calls
alternated, medians). Each compiled model keeps a pool of infer requests, reused call after call.

`pixel_input=True` moves an image model's input normalisation into the compiled graph (OpenVINO's
PrePostProcessor): the engine then takes the letterboxed image as it is, uint8 BGR (B, H, W, 3), and
converts it to float RGB 0..1 NCHW itself. On the INT8 pose model at 736x960 (vtest.mp4, batches of
4 as one-frame requests, letterbox included, 4 rounds alternated, medians) that ran 16.3 against
18.7 ms/frame with numpy's float letterbox, with outputs identical to the float path.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal

import numpy as np

from engines.base import TensorSpec
from pipeline.errors import ModelError

PerformanceHint = Literal["AUTO", "LATENCY", "THROUGHPUT"]
# Argus precision name -> INFERENCE_PRECISION_HINT value. "fp32" really is FP32: OpenVINO's own default on
# a CPU with AVX-512 BF16 is BF16, which is what ultralytics' OpenVINO runs get. On the 2-core AMD EPYC
# (AVX-512 BF16, no AMX) BF16 ran 17.5 ms against 27.8 for FP32 at 480x640 (and 19.5 vs 35.4 for
# ultralytics' own 640x640 IR), 60 calls alternated: that, not the graph, is most of the gap between
# `yolo track` and Argus's FP32.
# INT8 lives in the file (engines.quantize's "u8s8-openvino"). Its float parts (score branch, attention,
# DFL, splits: about a quarter of its time) run in BF16 where the CPU lists BF16 among its
# OPTIMIZATION_CAPABILITIES, else in FP32. On this session's AMD EPYC (AVX-512 BF16), at 736x960 on
# vtest.mp4, batches of 8, 10 rounds alternated, medians: 51.2 FPS against 47.8 and 48.3 with FP32 parts
# (two engines); against the FP32 model on every 2nd frame, recall 0.988 against 0.990 (1301 people), mean
# OKS 0.990 for both; at 480x640 recall 0.981 against 0.989 (260 people), OKS 0.994 and 0.995. An earlier
# AMD machine measured BF16 parts no faster (15.7 against 15.5 ms) and recall 0.967 against 1.0 on 100
# frames of vtest + bus/zidane: the agreement check after every INT8 build runs with the same hint and
# warns below recall 0.95; `precision: fp32` is the escape.
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


class _Pool:
    """One compiled model (one input H, W, dynamic batch) and its idle infer requests."""

    def __init__(self, compiled: Any) -> None:
        self.compiled = compiled
        self.streams = max(1, int(compiled.get_property("NUM_STREAMS")))
        self.idle: list[Any] = []

    def take(self) -> Any:
        return self.idle.pop() if self.idle else self.compiled.create_infer_request()


@dataclass(eq=False)
class Pending:
    """A submitted batch: its infer requests (one per part of the batch) and the inputs they read."""

    parts: list[tuple[_Pool, Any]]
    feeds: dict[str, np.ndarray]  # share_inputs=True: kept alive until the requests finish
    done: bool = False


class OpenVinoEngine:
    """An OpenVINO model behind the `Engine` protocol, with optional asynchronous `submit`/`result`.

    hint "AUTO" compiles up to two models per input size, each on first use: a LATENCY one (one
    stream, every thread on one request) for synchronous batch-1 calls, and a THROUGHPUT one (one
    stream per core) for everything else: a synchronous batch of B >= 2 is split into B one-frame
    requests, run at once and joined; `submit` starts a request and returns at once, so the caller
    prepares the next batch (or decodes the previous one) while it runs. On this 2-core CPU (INT8,
    640x480) two requests in flight on two streams ran 13.5 ms/img against 16-18 for batch-1 calls
    on the LATENCY model, and batch 8 split in two 12.8 against 14-16 unsplit (same run).

    Args:
        path: .onnx or .xml (IR) file.
        precision: "fp32", "bf16", "fp16" or "int8" (int8 needs a quantised file).
        threads: inference threads (0 = OpenVINO's choice).
        pixel_input: take images as uint8 BGR (B, H, W, 3) and normalise them inside the graph
            (above); for a model with one (B, 3, H, W) float input of RGB values in 0..1.
        hint: "AUTO" (above), "LATENCY" (one stream only) or "THROUGHPUT" (streams only).
        device: "cpu" (OpenVINO's GPU/NPU plugins are not wired up).
    """

    def __init__(self, path: Path, *, precision: str = "fp32", threads: int = 0,
                 hint: PerformanceHint = "AUTO", device: str = "cpu", pixel_input: bool = False) -> None:
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
        if pixel_input:
            self.model = _with_pixel_input(ov, self.model, path)
        self.hint = hint
        self.config: dict[str, str] = {}
        hint_value = PRECISION_HINTS[precision]
        if precision == "int8" and "BF16" in self.core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
            hint_value = "bf16"  # the float parts of an INT8 model (see PRECISION_HINTS)
        if hint_value:
            self.config["INFERENCE_PRECISION_HINT"] = hint_value
        if threads:
            self.config["INFERENCE_NUM_THREADS"] = str(threads)
        self.inputs: dict[str, TensorSpec] = {
            p.get_any_name(): _spec(p, p.get_element_type().to_dtype().name) for p in self.model.inputs}
        self.outputs: dict[str, TensorSpec] = {
            p.get_any_name(): _spec(p, "float32") for p in self.model.outputs}
        self.metadata: dict[str, str] = _metadata(path, self.model)
        self._pools: dict[tuple[str, tuple[tuple[int, ...], ...]], _Pool] = {}

    def _pool(self, mode: str, feeds: Mapping[str, np.ndarray]) -> _Pool:
        """The compiled model for `feeds`' shapes: static for a batch of 1, else a dynamic batch."""
        batch = 1 if next(iter(feeds.values())).shape[0] == 1 else -1
        shapes = tuple((batch, *feeds[name].shape[1:]) for name in self.inputs)
        pool = self._pools.get((mode, shapes))
        if pool is None:
            if len(self._pools) >= MAX_COMPILED_SHAPES:
                self._pools.pop(next(iter(self._pools)))
            model = self.model.clone()
            model.reshape(dict(zip(self.inputs, [list(s) for s in shapes], strict=True)))
            config = {"PERFORMANCE_HINT": mode, **self.config}
            pool = self._pools[(mode, shapes)] = _Pool(self.core.compile_model(model, "CPU", config))
        return pool

    def submit(self, feeds: Mapping[str, np.ndarray], *, split: bool = False) -> Pending:
        """Start inference on `feeds` and return at once (`split`: one part of the batch per stream)."""
        arrays = {name: np.ascontiguousarray(feeds[name]) for name in self.inputs}
        mode = "LATENCY" if self.hint == "LATENCY" else "THROUGHPUT"
        batch = next(iter(arrays.values())).shape[0]
        # split: one request per frame on the static batch-1 model, all in flight at once (OpenVINO runs
        # `streams` of them in parallel). Against two halves on a dynamic-batch model, batches of 4 vtest
        # frames (INT8, 2-core AMD EPYC, 40 batches alternated, medians): 15.6 against 19.6 ms/frame at
        # 736x960 and 7.2 against 9.1 at 480x640; one frame at a time on the LATENCY model: 17.3 and 7.8.
        bounds = np.arange(batch + 1) if split else np.array([0, batch])
        pending = Pending([], arrays)
        for lo, hi in pairwise(bounds):
            part = {n: a[lo:hi] for n, a in arrays.items()}
            pool = self._pool(mode, part)
            request = pool.take()
            request.start_async(part, share_inputs=True)
            pending.parts.append((pool, request))
        return pending

    def result(self, pending: Pending, *, copy: bool = True) -> dict[str, np.ndarray]:
        """Wait for a submitted batch; its outputs by name (every output, batch axis first).

        copy=False (a one-request `submit` only) returns views of the request's own output tensors
        instead of copies: they stay valid until the next `submit`, which may reuse the request."""
        if pending.done:
            raise ModelError("OpenVINO: result() was already taken for this batch")
        pending.done = True
        chunks: dict[str, list[np.ndarray]] = {name: [] for name in self.outputs}
        error: Exception | None = None
        for pool, request in pending.parts:  # every part is waited for, so no busy request goes back idle
            try:
                request.wait()
                for name in self.outputs:
                    data = request.get_tensor(name).data
                    chunks[name].append(data.copy() if copy or len(pending.parts) > 1 else data)
            except Exception as exc:  # OpenVINO raises RuntimeError subclasses
                error = error or exc
            pool.idle.append(request)
        if error is not None:
            raise error
        return {name: parts[0] if len(parts) == 1 else np.concatenate(parts) for name, parts in chunks.items()}

    def __call__(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        batch = next(iter(feeds.values())).shape[0]
        if self.hint == "THROUGHPUT" or (self.hint == "AUTO" and batch > 1):
            return self.result(self.submit(feeds, split=True))
        pool = self._pool("LATENCY", feeds)
        request = pool.take()
        try:
            request.infer({name: np.ascontiguousarray(feeds[name]) for name in self.inputs}, share_inputs=True)
            return {name: request.get_tensor(name).data.copy() for name in self.outputs}
        finally:
            pool.idle.append(request)

    def close(self) -> None:
        self._pools.clear()


def _with_pixel_input(ov: Any, model: Any, path: Path) -> Any:
    """`model` (one (B, 3, H, W) float RGB 0..1 input) taking uint8 BGR (B, H, W, 3) pixels instead."""
    from openvino.preprocess import ColorFormat, PrePostProcessor

    if len(model.inputs) != 1 or model.inputs[0].get_partial_shape().rank.get_length() != 4:
        raise ModelError(f"{path}: pixel input needs one (B, 3, H, W) image input")
    ppp = PrePostProcessor(model)
    ppp.input().tensor().set_element_type(ov.Type.u8).set_layout(ov.Layout("NHWC")).set_color_format(
        ColorFormat.BGR)
    ppp.input().model().set_layout(ov.Layout("NCHW"))
    ppp.input().preprocess().convert_element_type(ov.Type.f32).convert_color(ColorFormat.RGB).scale(255.0)
    return ppp.build()


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
