"""What every model stage shares: one runtime-settings model and one way to load a model from its recipe.

Resolve (backend, precision, device) -> the cached artefact for that choice (ONNX export, INT8 built
on first use, TensorRT engine) -> the engine. The YOLO detection and pose stages load through here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from engines.artefacts import ModelRecipe, Request, calib_from, int8_available, model_file
from engines.base import Engine
from engines.loader import load_engine
from engines.select import Choice, resolve
from pipeline.errors import ModelError
from pipeline.stage import StageConfig
from stages.models.feature_taps import TORCH_TAPS


class RuntimeSettings(StageConfig):
    """Where and how a model runs: backend, precision, device, threads (shared by every model stage)."""

    backend: Literal["auto", "tensorrt", "openvino", "onnxruntime", "torch"] = Field(
        "auto", description="Inference runtime; auto: TensorRT with a usable GPU, else PyTorch on CUDA, else "
        "the fastest CPU runtime installed (OpenVINO, else ONNX Runtime). The choice is logged.")
    precision: Literal["auto", "fp32", "fp16", "bf16", "int8"] = Field(
        "auto", description="auto: fp16 on a GPU; int8 on a CPU, calibrated automatically on first use "
        "(once per model and imgsz, cached: on the stage's calib:, else on frames built into Argus; "
        "`run.py build --calib VIDEO` calibrates on your own video). fp32 skips INT8, as does "
        "ARGUS_AUTO_INT8=0 when no INT8 model is built yet.")
    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$", description="auto, cpu or cuda:N.")
    calib: str | None = Field(None, description="Video file or image folder to calibrate INT8 on (else "
                              "run.py build's, else frames built into Argus).")
    threads: int = Field(0, ge=0, description="CPU threads for the runtime (0 = all cores).")
    cuda_graph: bool = Field(False, description="TensorRT: replay inference as a CUDA graph, re-captured "
                             "when the input shape changes (fewer kernel launches for small batches).")


def load_recipe(recipe: ModelRecipe, settings: RuntimeSettings, what: str) -> tuple[Choice, Engine]:
    """Resolve the backend and precision for `recipe`, make (or find) its model file and load it;
    errors are ModelErrors naming `what`."""
    choice = resolve(settings.backend, settings.precision, settings.device, what=what,
                     int8_built=lambda b: int8_available(Request(recipe, b, "int8")))
    calib = calib_from([Path(settings.calib)], recipe.preprocess) if settings.calib else None
    try:
        path = model_file(Request(recipe, choice.backend, choice.precision, choice.device), calib)
        engine = load_engine(path, backend=choice.backend, device=choice.device, threads=settings.threads,
                             precision=choice.precision, cuda_graph=settings.cuda_graph, taps=TORCH_TAPS,
                             pixel_input=True)
    except ModelError as exc:
        raise ModelError(f"{what}: {exc}") from None
    return choice, engine
