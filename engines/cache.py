"""On-disk cache of built model artefacts (ONNX exports, quantised models, TensorRT engines).

Each artefact lives at `<cache>/<name>-<key>.<ext>` where the key hashes everything that
changes the result. Builders write into a temporary file under an exclusive file lock and
rename it into place, so two processes never see or produce a half-written artefact.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any


def cache_dir() -> Path:
    """`$ARGUS_CACHE`, else `$XDG_CACHE_HOME/argus`, else `~/.cache/argus` (created)."""
    root = os.environ.get("ARGUS_CACHE")
    if root is None:
        root = str(Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "argus")
    path = Path(root).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def file_hash(path: Path, chunk: int = 1 << 20) -> str:
    """sha256 of a file's bytes (hex, first 16 chars)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()[:16]


def cache_key(**parts: Any) -> str:
    """A short stable hash of keyword parts (JSON-serialisable values)."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    lock_path = path.with_name(path.name + ".lock")
    with lock_path.open("a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build_cached(target: Path, build: Callable[[Path], None],
                 is_valid: Callable[[Path], bool] = lambda p: p.stat().st_size > 0) -> Path:
    """Return `target`, building it first with `build(tmp_path)` unless a valid copy exists.

    The build runs under an exclusive lock; the result is renamed into place atomically. An
    existing file that fails `is_valid` is rebuilt (the caller logs why).
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists() and is_valid(target):
        return target
    with _locked(target):
        if target.exists() and is_valid(target):  # another process built it while we waited
            return target
        tmp = target.with_name(f".{target.stem}.{os.getpid()}.tmp{target.suffix}")
        try:
            build(tmp)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
    return target
