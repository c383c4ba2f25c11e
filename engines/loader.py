"""Maps a backend name to the class that runs a model file on it (one explicit table).

Backends import their runtime lazily, so unused ones cost nothing (and a deployment without
torch, OpenVINO or TensorRT still loads the others).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from engines.base import Engine
from pipeline.errors import ModelError

log = logging.getLogger(__name__)


def _onnxruntime(path: Path, precision: str, device: str, threads: int) -> Engine:
    from engines.onnxruntime import OnnxRuntimeEngine

    return OnnxRuntimeEngine(path, threads=threads, device=device)


def _openvino(path: Path, precision: str, device: str, threads: int) -> Engine:
    from engines.openvino import OpenVinoEngine

    return OpenVinoEngine(path, precision=precision, threads=threads, device=device)


def _torch(path: Path, precision: str, device: str, threads: int) -> Engine:
    from engines.torch import TorchEngine

    return TorchEngine(path, precision=precision, device=device, threads=threads)


def _tensorrt(path: Path, precision: str, device: str, threads: int) -> Engine:
    from engines.tensorrt import TensorRtEngine

    return TensorRtEngine(path, device=device)


LOADERS: dict[str, Callable[[Path, str, str, int], Engine]] = {
    "onnxruntime": _onnxruntime,
    "openvino": _openvino,
    "torch": _torch,
    "tensorrt": _tensorrt,
}


def load_engine(path: Path, *, backend: str = "onnxruntime", device: str = "cpu", threads: int = 0,
                precision: str = "fp32") -> Engine:
    """Load the model file `path` on `backend` (precision: the hint for runtimes that take one)."""
    loader = LOADERS.get(backend)
    if loader is None:
        raise ModelError(f"unknown backend '{backend}' (one of {', '.join(LOADERS)})")
    if not Path(path).is_file():
        raise ModelError(f"model file not found: {path}")
    return loader(Path(path), precision, device, threads)
