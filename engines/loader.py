"""Maps a backend name to the class that runs a model file on it (one explicit table).

Backends import their runtime lazily, so unused ones cost nothing (and a deployment without
torch, OpenVINO or TensorRT still loads the others).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from engines.base import Engine
from pipeline.errors import ModelError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LoadOptions:
    """How to run a model file: precision hint, device, CPU threads, backend-specific switches."""

    precision: str = "fp32"
    device: str = "cpu"
    threads: int = 0
    cuda_graph: bool = False  # TensorRT only
    taps: Mapping[str, int | tuple[int, int]] = field(default_factory=dict)  # PyTorch only (engines.torch)
    pixel_input: bool = False  # OpenVINO only: uint8 BGR NHWC images in, normalised in the graph


def _onnxruntime(path: Path, o: LoadOptions) -> Engine:
    from engines.onnxruntime import OnnxRuntimeEngine

    return OnnxRuntimeEngine(path, threads=o.threads, device=o.device)


def _openvino(path: Path, o: LoadOptions) -> Engine:
    from engines.openvino import OpenVinoEngine

    return OpenVinoEngine(path, precision=o.precision, threads=o.threads, device=o.device,
                          pixel_input=o.pixel_input)


def _torch(path: Path, o: LoadOptions) -> Engine:
    from engines.torch import TorchEngine

    return TorchEngine(path, precision=o.precision, device=o.device, threads=o.threads, taps=o.taps)


def _tensorrt(path: Path, o: LoadOptions) -> Engine:
    from engines.tensorrt import TensorRtEngine

    return TensorRtEngine(path, device=o.device, cuda_graph=o.cuda_graph)


LOADERS: dict[str, Callable[[Path, LoadOptions], Engine]] = {
    "onnxruntime": _onnxruntime,
    "openvino": _openvino,
    "torch": _torch,
    "tensorrt": _tensorrt,
}


def load_engine(path: Path, *, backend: str = "onnxruntime", device: str = "cpu", threads: int = 0,
                precision: str = "fp32", cuda_graph: bool = False,
                taps: Mapping[str, int | tuple[int, int]] | None = None, pixel_input: bool = False) -> Engine:
    """Load the model file `path` on `backend` (precision: the hint for runtimes that take one;
    cuda_graph: TensorRT replays inference as a CUDA graph per input shape; taps: the intermediate
    outputs PyTorch hooks, output name -> module index or (index, pool), which exported files carry
    themselves; pixel_input: an image model's input normalisation runs in the graph where the
    backend can do it (OpenVINO), so the engine's input spec becomes uint8 (B, H, W, 3) BGR)."""
    loader = LOADERS.get(backend)
    if loader is None:
        raise ModelError(f"unknown backend '{backend}' (one of {', '.join(LOADERS)})")
    if not Path(path).is_file():
        raise ModelError(f"model file not found: {path}")
    return loader(Path(path), LoadOptions(precision, device, threads, cuda_graph, dict(taps or {}), pixel_input))
