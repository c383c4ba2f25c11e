"""ONNX Runtime backend (CPU by default; CUDA where onnxruntime-gpu provides it)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from engines.base import TensorSpec
from pipeline.errors import ModelError

_ORT_TYPES = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(int64)": "int64",
              "tensor(int32)": "int32", "tensor(uint8)": "uint8", "tensor(int8)": "int8",
              "tensor(bool)": "bool"}


def _spec(arg) -> TensorSpec:
    shape = tuple(d if isinstance(d, int) else -1 for d in arg.shape)
    return TensorSpec(arg.name, shape, _ORT_TYPES.get(arg.type, arg.type))


class OnnxRuntimeEngine:
    """An `onnxruntime.InferenceSession` behind the `Engine` protocol.

    Args:
        path: the .onnx file.
        threads: intra-op threads (0 = ONNX Runtime's choice, all cores).
        device: "cpu" or "cuda:N" (needs onnxruntime-gpu).
    """

    def __init__(self, path: Path, *, threads: int = 0, device: str = "cpu") -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        providers: list = ["CPUExecutionProvider"]
        if device.startswith("cuda"):
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise ModelError(f"{path}: device {device} needs onnxruntime-gpu (CUDAExecutionProvider); "
                                 f"installed providers: {', '.join(ort.get_available_providers())}")
            index = int(device.partition(":")[2] or 0)
            providers = [("CUDAExecutionProvider", {"device_id": index}), "CPUExecutionProvider"]
        try:
            self.session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
        except Exception as exc:  # onnxruntime raises its own exception types for unreadable models
            raise ModelError(f"{path}: not a loadable ONNX model: {str(exc).splitlines()[0]}") from None
        self.inputs: dict[str, TensorSpec] = {a.name: _spec(a) for a in self.session.get_inputs()}
        self.outputs: dict[str, TensorSpec] = {a.name: _spec(a) for a in self.session.get_outputs()}
        self.metadata: dict[str, str] = dict(self.session.get_modelmeta().custom_metadata_map)
        self._output_names = list(self.outputs)

    def __call__(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        results = self.session.run(self._output_names, dict(feeds))
        return dict(zip(self._output_names, results, strict=True))

    def close(self) -> None:
        self.session = None  # type: ignore[assignment]


def read_metadata(path: Path) -> dict[str, str]:
    """An ONNX file's metadata_props (ultralytics stores names, kpt_shape, stride there), without `onnx`."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    return dict(session.get_modelmeta().custom_metadata_map)
