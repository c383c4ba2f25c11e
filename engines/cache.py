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
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def cache_dir() -> Path:
    """`$ARGUS_CACHE`, else `$XDG_CACHE_HOME/argus`, else `~/.cache/argus` (created)."""
    root = os.environ.get("ARGUS_CACHE")
    if root is None:
        root = str(Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "argus")
    path = Path(root).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def file_hash(path: Path, chunk: int = 1 << 20, length: int = 16) -> str:
    """sha256 of a file's bytes (hex, first `length` chars)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()[:length]


def _checksum_path(target: Path) -> Path:
    return target.with_name(target.name + ".sha256")


def _intact(target: Path) -> bool:
    """Whether `target` still has the bytes it was built with (its .sha256 sidecar matches).

    An entry without a sidecar (renamed into place but the sidecar not yet: the rename is atomic,
    so the entry is whole) is adopted: its checksum is written now.
    """
    checksum = _checksum_path(target)
    actual = file_hash(target, length=64)
    if not checksum.exists():
        checksum.write_text(actual + "\n")
        return True
    return checksum.read_text().strip() == actual


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

    The build runs under an exclusive lock; the result is renamed into place atomically and its
    sha256 is kept beside it. An existing file whose checksum no longer matches (corrupted,
    truncated, edited) or that fails `is_valid` is rebuilt with a warning, never used.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists() and _intact(target) and is_valid(target):
        return target
    with _locked(target):
        if target.exists():
            if _intact(target) and is_valid(target):  # another process built it while we waited
                return target
            log.warning("cache entry %s is corrupt or incomplete (checksum mismatch); rebuilding it", target)
        tmp = target.with_name(f".{target.stem}.{os.getpid()}.tmp{target.suffix}")
        try:
            build(tmp)
            checksum = _checksum_path(tmp)
            checksum.write_text(file_hash(tmp, length=64) + "\n")
            os.replace(tmp, target)
            os.replace(checksum, _checksum_path(target))
        finally:
            tmp.unlink(missing_ok=True)
            _checksum_path(tmp).unlink(missing_ok=True)
    return target
