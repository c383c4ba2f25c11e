"""Which model file each (backend, precision) runs, and building it: one explicit table.

    weights -> .onnx (fp32) -> .fp16.onnx | .int8-u8s8.onnx (ONNX Runtime) | .int8-u8s8-openvino.onnx
                            | .int8-tensorrt.onnx
                            -> .engine (TensorRT, from the fp32 / fp16 / tensorrt-int8 ONNX)

What is particular to a model (how its weights become ONNX, which nodes INT8 leaves in float, the
TensorRT input shapes, how calibration frames become inputs) comes in a `ModelRecipe` written by
its adapter (stages/models/yolo_recipe.py); nothing here knows a model. INT8 needs calibration
frames. `run.py build` calibrates on the config's sources or `--calib` and records the result in a
small index in the cache, so a stage finds its INT8 model later without re-reading the calibration
source; a stage with its own `calib:` builds on demand. Where neither was done, the INT8 model is
built on first use from the recipe's built-in calibration frames (`ModelRecipe.builtin_frames`),
checked against FP32 (`ModelRecipe.check`), logged, and recorded in the same index; setting
`ARGUS_AUTO_INT8=0` turns that off (an INT8 model already built is still used).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from engines.cache import cache_dir
from engines.calibration import CalibrationSet, Preprocess, calibration_set, frames_set
from pipeline.errors import ModelError

if TYPE_CHECKING:
    from engines.agreement import Agreement
    from engines.quantize import KeepFloat
    from engines.tensorrt_build import ShapeProfile

log = logging.getLogger(__name__)
AUTO_INT8_ENV = "ARGUS_AUTO_INT8"  # "0": never calibrate INT8 automatically (tests, quick runs)
BuiltinFrames = Callable[[], tuple[str, list[np.ndarray]]]
"""() -> (what the frames are, BGR uint8 frames): calibration frames that ship with the model."""
Check = Callable[[str, Path, Path], "Agreement"]
"""(backend, FP32 file, INT8 file) -> agreement of the INT8 file with FP32 on frames it was not calibrated on."""
AGREEMENT_MIN = (0.95, 0.90)  # person recall, mean OKS below which an automatic INT8 build warns


@dataclass(frozen=True, slots=True)
class ModelRecipe:
    """What the engines must know about one model (at one input size) to make its files.

    Attributes:
        name: the model as the user named it (in messages).
        key: identifies the weights and input size in the INT8 index (stable across runs).
        onnx: returns the FP32 ONNX file, exported and cached on first call.
        weights: returns the native weights the torch backend runs (ModelError where there are none).
        preprocess: calibration frames -> model inputs, exactly as inference prepares them.
        keep_float: the nodes INT8 quantisation leaves in float.
        shapes: the TensorRT optimisation profile (smallest / typical / largest input).
        builtin_frames: calibration frames shipped with the model, for INT8 built on first use
            (None: INT8 needs `run.py build --calib` or a stage's `calib:`).
        check: measures an INT8 file's agreement with FP32 after an automatic build (None: not checked).
        int8: whether the model has INT8 builds (False: precision int8 is an error, auto never picks it).
        half: whether it runs in 16-bit floats (FP16 files, OpenVINO's BF16); False: FP32 everywhere.
        native: whether `weights` gives a file the torch backend runs (False: its ONNX file runs on
            another runtime instead).
        pixel_input: its input is a uint8 BGR image scaled by 1/255, which OpenVINO can do in the graph.
    """

    name: str
    key: str
    onnx: Callable[[], Path]
    weights: Callable[[], Path]
    preprocess: Preprocess
    keep_float: KeepFloat
    shapes: ShapeProfile
    builtin_frames: BuiltinFrames | None = None
    check: Check | None = None
    int8: bool = True
    half: bool = True
    native: bool = True
    pixel_input: bool = False


@dataclass(frozen=True, slots=True)
class Request:
    """What a stage needs: a model, on a backend/precision/device."""

    model: ModelRecipe
    backend: str
    precision: str
    device: str = "cpu"


Calib = Callable[[], CalibrationSet]


def _onnx(r: Request, _calib: Calib | None) -> Path:
    return r.model.onnx()


def _fp16(r: Request, _calib: Calib | None) -> Path:
    from engines.quantize import fp16_onnx

    return fp16_onnx(r.model.onnx())


def _int8(fmt: str) -> Callable[[Request, Calib | None], Path]:
    def build(r: Request, calib: Calib | None) -> Path:
        from engines import quantize

        if calib is None:
            found = lookup(r, fmt)
            if found is not None:
                return found
            if not auto_int8_enabled() or r.model.builtin_frames is None:
                off = f" ({AUTO_INT8_ENV}=0 turns off building it on first use)" if r.model.builtin_frames else ""
                raise ModelError(f"model {r.model.name}: {r.backend} int8 needs a calibrated model: run "
                                 f"`python run.py build CONFIG --calib VIDEO_OR_DIR` (or set the stage's calib:)"
                                 f"{off}")
            return _auto_int8(r, fmt)
        path = quantize.int8_onnx(r.model.onnx(), calib(), fmt, r.model.keep_float)  # type: ignore[arg-type]
        _record(r, fmt, path)
        return path
    return build


def auto_int8_enabled() -> bool:
    """Whether INT8 may be calibrated automatically on first use (`ARGUS_AUTO_INT8` unset or not "0")."""
    return os.environ.get(AUTO_INT8_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def builtin_calib(recipe: ModelRecipe) -> Calib:
    """A lazy calibration set over the recipe's built-in frames (ModelError where it has none)."""
    cached: list[CalibrationSet] = []

    def load() -> CalibrationSet:
        if recipe.builtin_frames is None:
            raise ModelError(f"model {recipe.name}: no built-in calibration frames")
        if not cached:
            what, frames = recipe.builtin_frames()
            cached.append(frames_set(frames, recipe.preprocess, what))
        return cached[0]
    return load


def _auto_int8(r: Request, fmt: str) -> Path:
    """Build the INT8 file on first use from the built-in frames, check it against FP32, record it."""
    from engines import quantize

    calib = builtin_calib(r.model)()
    log.info("model %s: building its %s INT8 model (once, cached; 10-60 s on 2 cores): calibrating on "
             "%d built-in frames (%s), as no calibration source was given (`python run.py build CONFIG "
             "--calib VIDEO` calibrates on your own; precision: fp32 or %s=0 skips INT8)",
             r.model.name, r.backend, len(calib.tensors), calib.source, AUTO_INT8_ENV)
    start = time.perf_counter()
    fp32 = r.model.onnx()
    path = quantize.int8_onnx(fp32, calib, fmt, r.model.keep_float)  # type: ignore[arg-type]
    seconds = time.perf_counter() - start
    if r.model.check is not None:
        result = r.model.check(r.backend, fp32, path)
        low = (result.recall < AGREEMENT_MIN[0] or result.mean_oks < AGREEMENT_MIN[1]
               or result.class_agreement < AGREEMENT_MIN[0])
        (log.warning if low else log.info)(
            "model %s: INT8 ready in %.0f s; against FP32 on %d boxes it was not calibrated on: recall %.3f, "
            "class agreement %.3f, mean OKS %.3f%s", r.model.name, seconds, result.reference, result.recall,
            result.class_agreement, result.mean_oks,
            f" (below {AGREEMENT_MIN[0]} / {AGREEMENT_MIN[1]}: set precision: fp32, or calibrate on your own "
            f"video with `run.py build --calib`)" if low else "")
    else:
        log.info("model %s: INT8 ready in %.0f s: %s", r.model.name, seconds, path)
    _record(r, fmt, path)
    return path


def int8_available(request: Request) -> str | None:
    """Why `request` can run INT8 without further input (built, or buildable on first use), or None."""
    fmt = INT8_FORMAT.get(request.backend)
    if fmt is None or not request.model.int8:
        return None
    if lookup(request, fmt) is not None:
        return "an INT8 model was calibrated for it"
    if auto_int8_enabled() and request.model.builtin_frames is not None:
        return "INT8, calibrated automatically on first use (cached)"
    return None


def _weights(r: Request, _calib: Calib | None) -> Path:
    return r.model.weights()


def _engine(source: Callable[[Request, Calib | None], Path]) -> Callable[[Request, Calib | None], Path]:
    def build(r: Request, calib: Calib | None) -> Path:
        from engines.tensorrt_build import build_engine

        return build_engine(source(r, calib), shapes=r.model.shapes, device=r.device)
    return build


ARTEFACTS: dict[tuple[str, str], Callable[[Request, Calib | None], Path]] = {
    ("onnxruntime", "fp32"): _onnx,
    ("onnxruntime", "fp16"): _fp16,
    ("onnxruntime", "int8"): _int8("u8s8"),
    ("openvino", "fp32"): _onnx,
    ("openvino", "bf16"): _onnx,
    ("openvino", "int8"): _int8("u8s8-openvino"),  # see engines.quantize
    ("torch", "fp32"): _weights,
    ("torch", "fp16"): _weights,
    ("tensorrt", "fp32"): _engine(_onnx),
    ("tensorrt", "fp16"): _engine(_fp16),
    ("tensorrt", "int8"): _engine(_int8("tensorrt")),
}
INT8_FORMAT = {"onnxruntime": "u8s8", "openvino": "u8s8-openvino", "tensorrt": "tensorrt"}
# Built by an older Argus, still used (with a warning) until `run.py build` makes the current format.
LEGACY_FORMAT = {"u8s8-openvino": "u8s8"}
_warned: set[str] = set()


def builds(recipe: ModelRecipe) -> tuple[str, ...]:
    """The precisions `recipe` can run (OpenVINO's bf16 runs the FP32 file)."""
    return ("fp32", *(("fp16", "bf16") if recipe.half else ()), *(("int8",) if recipe.int8 else ()))


def model_file(request: Request, calib: Calib | None = None) -> Path:
    """The file `request.backend` runs at `request.precision`, built (and cached) if needed."""
    build = ARTEFACTS.get((request.backend, request.precision))
    if request.precision not in builds(request.model):
        raise ModelError(f"model {request.model.name}: no {request.precision} build (it has "
                         f"{', '.join(builds(request.model))})")
    if build is None:
        raise ModelError(f"model {request.model.name}: no {request.precision} model for backend {request.backend}")
    return build(request, calib)


def calib_from(sources: Sequence[Path], preprocess: Preprocess) -> Calib:
    """A lazy calibration set over `sources` (read only when an INT8 model must be built), made into
    inputs by the model's `preprocess` (its recipe's)."""
    cached: list[CalibrationSet] = []

    def load() -> CalibrationSet:
        if not cached:
            cached.append(calibration_set(list(sources), preprocess))
        return cached[0]
    return load


def _index_path() -> Path:
    return cache_dir() / "int8-index.json"


def _index_key(r: Request, fmt: str) -> str:
    return f"{r.model.key}|{fmt}"


def lookup(request: Request, fmt: str | None = None) -> Path | None:
    """The INT8 model last built for this request by `run.py build`, if it still exists."""
    fmt = fmt or INT8_FORMAT.get(request.backend)
    if fmt is None or not _index_path().exists():
        return None
    try:
        index = json.loads(_index_path().read_text())
    except (json.JSONDecodeError, OSError):
        return None
    for candidate in (fmt, LEGACY_FORMAT.get(fmt)):
        entry = index.get(_index_key(request, candidate)) if candidate else None
        if entry and Path(entry).exists():
            if candidate != fmt and entry not in _warned:
                _warned.add(entry)
                log.warning("model %s: running the %s INT8 file of an older build; run `python run.py build` "
                            "again for the faster %s one", request.model.name, candidate, fmt)
            return Path(entry)
    return None


def _record(r: Request, fmt: str, path: Path) -> None:
    index = _index_path()
    try:
        data = json.loads(index.read_text()) if index.exists() else {}
    except (json.JSONDecodeError, OSError):
        data = {}
    data[_index_key(r, fmt)] = str(path)
    tmp = index.with_name(f".{index.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, index)
