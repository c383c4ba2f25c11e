"""Loading a face network (detector or embedder) through engines/, like the pose model: resolve the
backend / precision / device, make (or find) the model file from the network's recipe, load it."""

from __future__ import annotations

from engines.artefacts import ModelRecipe, Request, model_file
from engines.base import Engine
from engines.loader import load_engine
from engines.select import Choice, resolve
from pipeline.errors import ModelError


def load_network(recipe: ModelRecipe, *, backend: str = "auto", precision: str = "auto", device: str = "auto",
                 threads: int = 0, what: str = "face model") -> tuple[Choice, Engine]:
    """(choice, engine) for `recipe`. The face networks have no INT8 build; precision auto is FP32 on
    a CPU, FP16 on a GPU. The torch backend runs the exported ONNX through OpenVINO/ONNX Runtime
    instead (these networks have no native weights file)."""
    choice = resolve(backend, precision, device, what=what)
    if choice.precision == "int8":
        raise ModelError(f"{what}: int8 is not supported for the face networks (use fp32 or fp16)")
    if choice.backend == "torch":  # no .pt for these networks: same device, the ONNX file on a runtime
        alt = "tensorrt" if choice.device.startswith("cuda") else "openvino"
        choice = resolve(alt, "fp16" if choice.device.startswith("cuda") else "fp32",
                         choice.device if alt == "tensorrt" else "cpu", what=what)
    try:
        path = model_file(Request(recipe, choice.backend, choice.precision, choice.device))
        engine = load_engine(path, backend=choice.backend, device=choice.device, threads=threads,
                             precision=choice.precision)
    except ModelError as exc:
        raise ModelError(f"{what}: {exc}") from None
    return choice, engine
