"""Exporting a model's native weights to ONNX once, into the cache, and finding installed packages.

The exporter itself belongs to the model adapter (stages/models/ultralytics.py exports ultralytics
`.pt` files); this module only caches what it writes, under a key of the weights' hash and every
setting the adapter names, and runs the adapter's optional post-export step (e.g. adding outputs).
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engines.cache import build_cached, cache_dir, cache_key, file_hash

log = logging.getLogger(__name__)

Exporter = Callable[[Path, Path], None]
"""(weights, out) -> None: writes the ONNX export of `weights` to `out`."""


def package_dir(package: str) -> Path | None:
    """Folder of an installed package, found without importing it (imports can take seconds)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def cached_export(weights: Path, export: Exporter, *, after: Callable[[Path], None] | None = None,
                  **key: Any) -> Path:
    """`<cache>/<weights stem>-<key>.onnx`, made once by `export(weights, out)` then `after(out)`.

    `key`: every setting that changes the export (input size, exporter version, outputs added by
    `after`...), hashed with the weights' bytes into the file name.
    """
    target = cache_dir() / f"{weights.stem}-{cache_key(weights=file_hash(weights), **key)}.onnx"
    if not target.exists():
        log.info("exporting %s to ONNX (once; cached at %s)", weights.name, target)

    def build(out: Path) -> None:
        export(weights, out)
        if after is not None:
            after(out)
    return build_cached(target, build)
