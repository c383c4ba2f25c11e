"""Reduced-precision model files shared by every backend: INT8 Q/DQ ONNX and FP16 ONNX.

- `int8_onnx(src, calib, "u8s8")`: uint8 activations, int8 per-channel weights, the format ONNX
  Runtime's CPU kernels run fastest.
- `int8_onnx(src, calib, "u8s8-openvino")`: the same, but Q/DQ only on Conv *inputs* (no Q/DQ between
  a Conv and its SiLU), so OpenVINO fuses Conv + SiLU + requantisation into one INT8 kernel.
- `int8_onnx(src, calib, "tensorrt")`: what TensorRT's strongly typed networks read: symmetric
  int8 everywhere (every zero point 0), weights per-channel on axis 0, activations per-tensor,
  biases left in float.
- `fp16_onnx(src)`: FP16 weights and compute, float32 inputs and outputs.

Which nodes must stay float is the model's business: `keep_float(fmt, node name, op type)` comes
from the model adapter (for YOLO, stages/models/yolo_recipe.py keeps the pose head float). Each
artefact is cached under a key covering the input hash, the format, the nodes kept float, the
calibration set's hash and the versions of the libraries that wrote it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Literal

import numpy as np

from engines.cache import build_cached, cache_dir, cache_key, file_hash
from engines.calibration import CalibrationSet

log = logging.getLogger(__name__)
Int8Format = Literal["u8s8", "u8s8-openvino", "tensorrt"]
KeepFloat = Callable[[str, str, str], bool]
"""(INT8 format, ONNX node name, op type) -> True for a node quantisation must leave in float."""
# OpenVINO on the "u8s8" file spent 9 of its 24 ms (yolo11n-pose, batch 1, 640x480) in 87 separate
# dequantise-SiLU-quantise kernels, because ONNX Runtime's quantiser also puts Q/DQ on every Conv
# output. Without them (OpTypesToExcludeOutputQuantization) each SiLU fuses into its Conv. Measured
# interleaved (same process, 2 threads, vtest.mp4, the head's score branch kept float as
# stages/models/yolo_recipe.py does): 15.5 / 13.3 ms/img at batch 1 / 8 against 20.7 / 20.4 for
# "u8s8" (ORT FP32 34.0 / 34.4); against FP32 on 100 frames + bus/zidane: recall 1.0, mean OKS
# 0.995, score MAE 0.011 ("u8s8": 1.0, 0.989, 0.022). ONNX Runtime runs this file slowly (57 ms: no
# QLinearConv without the output Q/DQ), so it keeps "u8s8".


def _versions(*packages: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for package in packages:
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "absent"
    return found


def float_nodes(model: Any, fmt: Int8Format, keep_float: KeepFloat | None) -> list[str]:
    """Names of the nodes of ONNX `model` that `keep_float` leaves in float for format `fmt`."""
    if keep_float is None:
        return []
    return [n.name for n in model.graph.node if keep_float(fmt, n.name, n.op_type)]


class _Reader:
    """onnxruntime CalibrationDataReader over a CalibrationSet, one frame per batch."""

    def __init__(self, input_name: str, calib: CalibrationSet) -> None:
        self.input_name, self.calib, self.index = input_name, calib, 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self.index >= len(self.calib.tensors):
            return None
        self.index += 1
        return {self.input_name: self.calib.tensors[self.index - 1: self.index]}

    def rewind(self) -> None:
        self.index = 0


def _int8_options(fmt: Int8Format) -> dict[str, Any]:
    from onnxruntime.quantization import QuantFormat, QuantType

    # Conv inputs and weights only: quantising SiLU's Sigmoid/Mul, Add and Concat too cost 10-13% of
    # FP32's people on vtest.mp4 (recall 0.87-0.90); Conv only keeps 0.97 (U8S8 34 ms vs 24 ms).
    common = {"quant_format": QuantFormat.QDQ, "per_channel": True, "weight_type": QuantType.QInt8,
              "op_types_to_quantize": ["Conv"]}
    if fmt in ("u8s8", "u8s8-openvino"):
        extra: dict[str, Any] = {"WeightSymmetric": True}
        if fmt == "u8s8-openvino":
            extra["OpTypesToExcludeOutputQuantization"] = ["Conv"]
        return common | {"activation_type": QuantType.QUInt8, "extra_options": extra}
    return common | {"activation_type": QuantType.QInt8, "extra_options": {
        "ActivationSymmetric": True, "WeightSymmetric": True, "QuantizeBias": False}}


def _quantize(src: Path, input_name: str, calib: CalibrationSet, fmt: Int8Format, keep: Sequence[str],
              out: Path) -> None:
    from onnxruntime.quantization import CalibrationDataReader, quantize_static

    reader = _Reader(input_name, calib)
    CalibrationDataReader.register(_Reader)
    log.info("calibrating %s INT8 (%s) on %d frames from %s", src.name, fmt, len(calib.tensors), calib.source)
    root = logging.getLogger()
    root.addFilter(_no_preprocess_advice)
    try:
        quantize_static(str(src), str(out), reader, nodes_to_exclude=list(keep), **_int8_options(fmt))
    finally:
        root.removeFilter(_no_preprocess_advice)


def _no_preprocess_advice(record: logging.LogRecord) -> bool:
    """Drops ONNX Runtime's "consider pre-processing before quantization" advice (printed twice per
    build on the root logger; its shape inference is not needed for these Conv-only Q/DQ models)."""
    return "pre-processing before quantization" not in record.getMessage()


def int8_key(src: Path, calib: CalibrationSet, fmt: Int8Format, keep: Sequence[str]) -> str:
    """Cache key of an INT8 file: the source, format, nodes kept float, calibration set, library versions."""
    kept = cache_key(nodes=sorted(keep))
    return cache_key(src=file_hash(src), fmt=fmt, ops="conv", calib=calib.digest, float_nodes=kept,
                     **_versions("onnxruntime", "onnx"))


def int8_onnx(src: Path, calib: CalibrationSet, fmt: Int8Format, keep_float: KeepFloat | None = None) -> Path:
    """A cached INT8 Q/DQ copy of `src` calibrated on `calib` in format `fmt`; `keep_float` picks the
    nodes left in float (None: none)."""
    import onnx

    model = onnx.load(str(src))
    keep = float_nodes(model, fmt, keep_float)
    input_name = model.graph.input[0].name
    target = cache_dir() / f"{src.stem}.int8-{fmt}-{int8_key(src, calib, fmt, keep)}.onnx"
    return build_cached(target, lambda tmp: _quantize(src, input_name, calib, fmt, keep, tmp))


def _to_fp16(src: Path, out: Path) -> None:
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = convert_float_to_float16(onnx.load(str(src)), keep_io_types=True)
    onnx.save(model, str(out))


def fp16_onnx(src: Path) -> Path:
    """A cached FP16 copy of `src` (inputs and outputs stay float32)."""
    key = cache_key(src=file_hash(src), precision="fp16", **_versions("onnxruntime", "onnx"))
    return build_cached(cache_dir() / f"{src.stem}.fp16-{key}.onnx", lambda tmp: _to_fp16(src, tmp))
