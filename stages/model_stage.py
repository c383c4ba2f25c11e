"""What every model stage shares: one runtime-settings model and one way to load a model from its recipe.

Resolve (backend, precision, device) -> the cached artefact for that choice (ONNX export, INT8 built
on first use, TensorRT engine) -> the engine. The YOLO detection and pose stages, the face networks and
learned action models load through here, and `run.py build` makes the same artefacts ahead of time.
A recipe says what its model lacks (INT8 or 16-bit builds, native weights): asking for it is a one-line
error, `auto` never picks it, and the torch backend runs a model without native weights from its ONNX
file on another runtime.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import Field, field_validator

from engines.artefacts import Calib, ModelRecipe, Request, builds, calib_from, int8_available, model_file
from engines.base import Engine
from engines.loader import load_engine
from engines.select import Choice, resolve
from engines.tensorrt_build import ShapeProfile
from pipeline.errors import ModelError
from pipeline.stage import StageConfig
from stages.models.feature_taps import TORCH_TAPS


class ModelRuntime(StageConfig):
    """Where and how a model runs: backend, precision, device, threads (every model stage's settings).

    A stage whose models run fewer precisions narrows `precision`'s Literal; any other value is then
    a one-line error listing the ones it runs."""

    backend: Literal["auto", "tensorrt", "openvino", "onnxruntime", "torch"] = Field(
        "auto", description="Inference runtime; auto: TensorRT with a usable GPU, else PyTorch on CUDA, else "
        "the fastest CPU runtime installed (OpenVINO, else ONNX Runtime). The choice is logged.")
    precision: Literal["auto", "fp32", "fp16", "bf16", "int8"] = Field(
        "auto", description="auto: fp16 on a GPU; int8 on a CPU, calibrated automatically on first use "
        "(once per model and imgsz, cached: on the stage's calib:, else on frames built into Argus; "
        "`run.py build --calib VIDEO` calibrates on your own video); bf16 instead of int8 on a CPU with AMX "
        "(as fast there, nothing to calibrate). fp32 skips INT8, as does ARGUS_AUTO_INT8=0 when no INT8 "
        "model is built yet.")
    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$", description="auto, cpu or cuda:N.")
    threads: int = Field(0, ge=0, description="CPU threads for the runtime (0 = all cores).")
    cuda_graph: bool = Field(False, description="TensorRT: replay inference as a CUDA graph, re-captured "
                             "when the input shape changes (fewer kernel launches for small batches).")

    @field_validator("precision", mode="before")
    @classmethod
    def _precision_runs(cls, value: Any) -> Any:
        runs = get_args(cls.model_fields["precision"].annotation)
        if isinstance(value, str) and runs and value not in runs:
            raise ValueError(f"{value} is not a precision this stage's models run (one of {', '.join(runs)})")
        return value


class RuntimeSettings(ModelRuntime):
    """The runtime settings of a model with INT8 builds (YOLO), and where its INT8 calibrates."""

    calib: str | None = Field(None, description="Video file or image folder to calibrate INT8 on (else "
                              "run.py build's, else frames built into Argus).")


def onnx_recipe(name: str, key: str, onnx: Callable[[], Path], shapes: ShapeProfile, *,
                half: bool = True) -> ModelRecipe:
    """The recipe of a model that exists only as an FP32 ONNX file (face networks, action models): no
    INT8 build, no native weights; `half`: whether it may run in 16-bit floats."""
    def no_weights() -> Path:
        raise ModelError(f"model {name}: no native weights (the torch backend runs its ONNX file elsewhere)")

    def no_calibration(frames: Any) -> Any:
        raise ModelError(f"model {name}: no INT8 build to calibrate")

    return ModelRecipe(name=name, key=key, onnx=onnx, weights=no_weights, preprocess=no_calibration,
                       keep_float=lambda fmt, node, op_type: False, shapes=shapes, int8=False, half=half,
                       native=False)


def choose(recipe: ModelRecipe, settings: ModelRuntime, what: str,
           int8_built: Callable[[str], bool | str | None] | None = None) -> Choice:
    """The backend, device and precision `settings` resolve to for `recipe` (ModelErrors name `what`).

    `int8_built(backend)`: whether an INT8 model is built or can be built for that backend (default:
    calibrated already, or buildable on first use); a model without INT8 builds never runs INT8."""
    runs = builds(recipe)
    if settings.precision not in ("auto", *runs):
        raise ModelError(f"{what}: precision {settings.precision} is not supported ({recipe.name} runs "
                         f"{', '.join(runs)})")
    if int8_built is None:
        int8_built = lambda backend: int8_available(Request(recipe, backend, "int8"))  # noqa: E731
    choice = resolve(settings.backend, settings.precision, settings.device, what=what, int8_built=int8_built,
                     runs=runs)
    if choice.backend == "torch" and not recipe.native:
        choice = _onnx_instead_of_torch(recipe, choice, what)
    return choice


def _onnx_instead_of_torch(recipe: ModelRecipe, choice: Choice, what: str) -> Choice:
    """The torch backend runs native weights only: `recipe`'s ONNX file runs on TensorRT on that GPU
    where TensorRT is usable, else on the fastest CPU runtime."""
    if choice.device.startswith("cuda"):
        gpu = resolve("auto", choice.precision, choice.device, what=what, runs=builds(recipe))
        if gpu.backend != "torch":
            return gpu
    return resolve("auto", "fp32", "cpu", what=what)


def artefact(recipe: ModelRecipe, choice: Choice, what: str, calib: Calib | None = None) -> Path:
    """The model file `choice` runs, built (and cached) if needed; errors are ModelErrors naming `what`."""
    try:
        return model_file(Request(recipe, choice.backend, choice.precision, choice.device), calib)
    except ModelError as exc:
        raise ModelError(f"{what}: {exc}") from None


def load_recipe(recipe: ModelRecipe, settings: ModelRuntime, what: str) -> tuple[Choice, Engine]:
    """Resolve the backend and precision for `recipe`, make (or find) its model file and load it;
    errors are ModelErrors naming `what`."""
    choice = choose(recipe, settings, what)
    source = settings.calib if isinstance(settings, RuntimeSettings) else None
    calib = calib_from([Path(source)], recipe.preprocess) if source and recipe.int8 else None
    path = artefact(recipe, choice, what, calib)
    try:
        engine = load_engine(path, backend=choice.backend, device=choice.device, threads=settings.threads,
                             precision=choice.precision, cuda_graph=settings.cuda_graph, taps=TORCH_TAPS,
                             pixel_input=recipe.pixel_input)
    except ModelError as exc:
        raise ModelError(f"{what}: {exc}") from None
    return choice, engine
