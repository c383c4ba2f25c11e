"""Maps a backend name to the class that runs a model file on it (one explicit table)."""

from __future__ import annotations

import logging
from pathlib import Path

from engines.base import Engine

log = logging.getLogger(__name__)


def load_engine(path: Path, *, backend: str = "onnxruntime", device: str = "cpu", threads: int = 0) -> Engine:
    """Load `path` on `backend`. Backends import their runtime lazily, so unused ones cost nothing."""
    if backend == "onnxruntime":
        from engines.onnxruntime import OnnxRuntimeEngine

        return OnnxRuntimeEngine(path, threads=threads, device=device)
    raise ValueError(f"unknown backend '{backend}'")
