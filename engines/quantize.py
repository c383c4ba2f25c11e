"""Reduced-precision model files shared by every backend: INT8 Q/DQ ONNX, FP16 ONNX, OpenVINO INT8 IR.

- `int8_onnx(src, calib, "u8s8")`: uint8 activations, int8 per-channel weights, the format ONNX
  Runtime's CPU kernels run fastest.
- `int8_onnx(src, calib, "u8s8-openvino")`: the same, but Q/DQ only on Conv *inputs* (no Q/DQ between
  a Conv and its SiLU), so OpenVINO fuses Conv + SiLU + requantisation into one INT8 kernel, and
  the head's class-score branch (`/model.23/cv3`) stays float (figures at SCORE_BRANCH_PREFIX).
- `int8_onnx(src, calib, "tensorrt")`: what TensorRT's strongly typed networks read: symmetric
  int8 everywhere (every zero point 0), weights per-channel on axis 0, activations per-tensor,
  biases left in float.
- `fp16_onnx(src)`: FP16 weights and compute, float32 inputs and outputs.
- `openvino_int8(src, calib)`: OpenVINO's own INT8 IR through NNCF (needs `nncf`). Not the default:
  on vtest.mp4 it kept 0.87 of FP32's people and ran slower than the "u8s8-openvino" file (18.5 /
  15.6 ms/img at batch 1 / 8 against 15.5 / 13.3, same run).

In every INT8 file the pose head's non-Conv nodes (`/model.23/...`) stay float: its one output
mixes pixel coordinates and probabilities, and quantising it collapses every score to 0. Each
artefact is cached under a key covering the input hash, the format, the calibration set's hash,
the input size and the versions of the libraries that wrote it.
"""

from __future__ import annotations

import logging
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Literal

import numpy as np

from engines.cache import build_cached, cache_dir, cache_key, file_hash
from engines.calibration import CalibrationSet
from pipeline.errors import ModelError

log = logging.getLogger(__name__)
Int8Format = Literal["u8s8", "u8s8-openvino", "tensorrt"]
HEAD_PREFIX = "/model.23/"  # ultralytics' Detect/Pose head in yolo11 exports
SCORE_BRANCH_PREFIX = "/model.23/cv3"  # the head's class-score convolutions (float in "u8s8-openvino")
# OpenVINO on the "u8s8" file spent 9 of its 24 ms (batch 1, 640x480) in 87 separate
# dequantise-SiLU-quantise kernels, because ONNX Runtime's quantiser also puts Q/DQ on every Conv
# output. Without them (OpTypesToExcludeOutputQuantization) each SiLU fuses into its Conv; keeping
# the score branch float then costs ~0.5 ms and cut the score error (MAE 0.017 -> 0.012, recall
# 0.90 -> 0.97 on borderline people scoring 0.25-0.29). Measured interleaved
# (same process, 2 threads, vtest.mp4): 15.5 / 13.3 ms/img at batch 1 / 8 against 20.7 / 20.4 for
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


def float_head_nodes(model: Any, prefix: str = HEAD_PREFIX) -> list[str]:
    """Names of the ONNX nodes to keep in float: every non-Conv node of the detection head."""
    return [n.name for n in model.graph.node if n.name.startswith(prefix) and n.op_type != "Conv"]


def float_nodes(model: Any, fmt: Int8Format) -> list[str]:
    """Every ONNX node `fmt` keeps in float: the head's non-Conv nodes, plus the score branch for OpenVINO."""
    nodes = float_head_nodes(model)
    if fmt == "u8s8-openvino":
        nodes += [n.name for n in model.graph.node if n.name.startswith(SCORE_BRANCH_PREFIX) and n.op_type == "Conv"]
    return nodes


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


def _quantize(src: Path, calib: CalibrationSet, fmt: Int8Format, out: Path) -> None:
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, quantize_static

    model = onnx.load(str(src))
    reader = _Reader(model.graph.input[0].name, calib)
    CalibrationDataReader.register(_Reader)
    log.info("calibrating %s INT8 (%s) on %d frames from %s", src.name, fmt, len(calib.tensors), calib.source)
    quantize_static(str(src), str(out), reader, nodes_to_exclude=float_nodes(model, fmt),
                    **_int8_options(fmt))


def int8_onnx(src: Path, calib: CalibrationSet, fmt: Int8Format) -> Path:
    """A cached INT8 Q/DQ copy of `src` calibrated on `calib` in format `fmt`."""
    key = cache_key(src=file_hash(src), fmt=fmt, ops="conv", calib=calib.digest, hw=calib.hw,
                    head=HEAD_PREFIX,
                    **_versions("onnxruntime", "onnx"))
    target = cache_dir() / f"{src.stem}.int8-{fmt}-{key}.onnx"
    return build_cached(target, lambda tmp: _quantize(src, calib, fmt, tmp))


def _to_fp16(src: Path, out: Path) -> None:
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = convert_float_to_float16(onnx.load(str(src)), keep_io_types=True)
    onnx.save(model, str(out))


def fp16_onnx(src: Path) -> Path:
    """A cached FP16 copy of `src` (inputs and outputs stay float32)."""
    key = cache_key(src=file_hash(src), precision="fp16", **_versions("onnxruntime", "onnx"))
    return build_cached(cache_dir() / f"{src.stem}.fp16-{key}.onnx", lambda tmp: _to_fp16(src, tmp))


def _nncf_quantize(src: Path, calib: CalibrationSet, target: Path, out: Path) -> None:
    import tempfile

    import openvino as ov

    try:
        import nncf
    except ImportError:
        raise ModelError("OpenVINO INT8 needs NNCF at build time: pip install nncf "
                         "(or use precision int8 with backend onnxruntime)") from None
    logging.getLogger("nncf").setLevel(logging.WARNING)  # one line per node otherwise
    model = ov.Core().read_model(str(src))
    model.reshape({model.inputs[0].get_any_name(): [1, 3, *calib.hw]})
    head = [op.get_friendly_name() for op in model.get_ops()
            if op.get_friendly_name().startswith(HEAD_PREFIX) and op.get_type_name() != "Convolution"]
    dataset = nncf.Dataset([calib.tensors[i: i + 1] for i in range(len(calib.tensors))])
    log.info("calibrating %s OpenVINO INT8 (NNCF) on %d frames from %s", src.name, len(calib.tensors),
             calib.source)
    quantized = nncf.quantize(model, dataset, preset=nncf.QuantizationPreset.MIXED,
                              subset_size=len(calib.tensors), fast_bias_correction=False,
                              ignored_scope=nncf.IgnoredScope(names=head, validate=False))
    quantized.reshape({quantized.inputs[0].get_any_name(): [-1, 3, -1, -1]})
    from engines.onnxruntime import read_metadata

    for k, v in read_metadata(src).items():
        quantized.set_rt_info(v, ["model_info", k])
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        ov.save_model(quantized, str(Path(tmp) / "model.xml"), compress_to_fp16=False)
        (Path(tmp) / "model.bin").replace(target.with_suffix(".bin"))  # weights first, then the .xml
        (Path(tmp) / "model.xml").replace(out)


def openvino_int8(src: Path, calib: CalibrationSet) -> Path:
    """A cached OpenVINO INT8 IR (.xml + .bin) of `src` quantised by NNCF on `calib`."""
    key = cache_key(src=file_hash(src), fmt="openvino-nncf-bc", calib=calib.digest, hw=calib.hw,
                    head=HEAD_PREFIX, **_versions("openvino", "nncf"))
    target = cache_dir() / f"{src.stem}.int8-openvino-{key}.xml"
    return build_cached(target, lambda tmp: _nncf_quantize(src, calib, target, tmp),
                        is_valid=lambda p: p.stat().st_size > 0 and p.with_suffix(".bin").exists())
