"""Learned action models: ONNX files with a window input [N, steps, FEATURES] and class scores out.

An Argus action model carries its contract in the ONNX metadata key `argus_actions` (JSON: classes,
window_s, steps, features). A file without it, or whose input shape does not match the window,
joint count or features, is rejected with one line at start-up and in `run.py check`.
`builtin` is the model trained on the shared clips by `run.py actions train`, shipped as package
data (stages/actions/builtin/actions.onnx).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engines.artefacts import ModelRecipe
from engines.tensorrt_build import ShapeProfile
from pipeline.errors import ModelError
from stages.actions.features import FEATURES
from stages.model_stage import ModelRuntime, load_recipe, onnx_recipe

BUILTIN = Path(__file__).parent / "builtin" / "actions.onnx"
METADATA_KEY = "argus_actions"
TENSORRT_BATCH = (1, 64, 1024)  # windows per call: every track of every stream whose window is due


@dataclass(frozen=True)
class ModelInfo:
    classes: tuple[str, ...]
    window_s: float
    steps: int


def model_path(model: str) -> Path:
    return BUILTIN if model == "builtin" else Path(model).expanduser()


def read_info(path: Path) -> ModelInfo:
    """The contract of action model `path`, checked against what Argus feeds it (ModelError: one line)."""
    if not path.is_file():
        raise ModelError(f"action model not found: {path}")
    try:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        options.log_severity_level = 3
        session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types for unreadable models
        raise ModelError(f"action model {path}: not a loadable ONNX model ({str(exc).splitlines()[0]})") from None
    meta = dict(session.get_modelmeta().custom_metadata_map)
    if METADATA_KEY not in meta:
        raise ModelError(f"action model {path}: no '{METADATA_KEY}' metadata (not written by run.py actions train)")
    try:
        info = json.loads(meta[METADATA_KEY])
        result = ModelInfo(tuple(info["classes"]), float(info["window_s"]), int(info["steps"]))
        features = int(info["features"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"action model {path}: bad '{METADATA_KEY}' metadata ({exc})") from None
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1 or len(outputs) < 1:
        raise ModelError(f"action model {path}: expected one input, got {len(inputs)}")
    dims = [d if isinstance(d, int) else -1 for d in inputs[0].shape]
    if len(dims) != 3 or dims[1:] != [result.steps, FEATURES] or features != FEATURES:
        raise ModelError(f"action model {path}: input shape {dims} does not match the window "
                         f"[N, {result.steps} steps, {FEATURES} features of 17 joints]")
    odims = [d if isinstance(d, int) else -1 for d in outputs[0].shape]
    if len(odims) != 2 or odims[1] != len(result.classes):
        raise ModelError(f"action model {path}: output shape {odims} does not match its "
                         f"{len(result.classes)} classes")
    return result


def action_recipe(path: Path, info: ModelInfo) -> ModelRecipe:
    """What engines/ needs to run action model `path` (its ONNX file as is, or a TensorRT engine built
    from it): FP32 only, no INT8 build, no native weights."""
    low, typical, high = TENSORRT_BATCH
    shape = (info.steps, FEATURES)
    return onnx_recipe(path.name, f"action|{path.resolve()}", lambda: path,
                       ShapeProfile((low, *shape), (typical, *shape), (high, *shape)), half=False)


class ActionModel:
    """A loaded action model: windows (N, steps, F) -> class probabilities (N, classes), one call per batch.

    `runtime`: the action stage's settings (default: ONNX Runtime, one thread, as the stage's)."""

    def __init__(self, path: Path, runtime: ModelRuntime | None = None) -> None:
        self.info = read_info(path)
        runtime = runtime or ModelRuntime(backend="onnxruntime", precision="fp32", threads=1)
        self.choice, self.engine = load_recipe(action_recipe(path, self.info), runtime, f"action model {path.name}")
        self.input = next(iter(self.engine.inputs))
        self.output = next(iter(self.engine.outputs))

    def __call__(self, windows: np.ndarray) -> np.ndarray:
        if len(windows) == 0:
            return np.zeros((0, len(self.info.classes)), np.float32)
        return self.engine({self.input: np.ascontiguousarray(windows, np.float32)})[self.output]

    def close(self) -> None:
        self.engine.close()
