"""The face networks (detector and embedder) as recipes, loaded through the shared model-stage path
(stages/model_stage.py: resolve -> cached artefact -> engine), like the YOLO models.

They exist only as ONNX files: no INT8 build (precision auto is FP32 on a CPU, FP16 on a GPU), and the
torch backend runs the exported ONNX on TensorRT or a CPU runtime instead (no native weights file).
"""

from __future__ import annotations

from engines.artefacts import ModelRecipe
from engines.base import Engine
from engines.select import Choice
from stages.faces import detector, facenet
from stages.model_stage import ModelRuntime, load_recipe

EMBEDDER_RECIPES = {facenet.NAME: facenet.recipe}


def networks(detector_name: str = detector.NAME, embedder_name: str = facenet.NAME) -> dict[str, ModelRecipe]:
    """The recipes of a face detector and embedder, keyed by how messages and reports name them."""
    if detector_name != detector.NAME:
        raise ValueError(f"unknown face detector {detector_name!r}")
    if embedder_name not in EMBEDDER_RECIPES:
        raise ValueError(f"unknown face embedder {embedder_name!r}")
    return {f"face detector {detector_name}": detector.recipe(),
            f"face embedder {embedder_name}": EMBEDDER_RECIPES[embedder_name]()}


def runtime_settings(backend: str = "auto", precision: str = "auto", device: str = "auto",
                     threads: int = 0) -> ModelRuntime:
    """Runtime settings given as arguments (tools, benchmarks) rather than a stage config; not validated
    here: a bad value is a one-line ModelError when the network loads."""
    return ModelRuntime.model_construct(backend=backend, precision=precision, device=device, threads=threads)


def load_network(recipe: ModelRecipe, *, backend: str = "auto", precision: str = "auto", device: str = "auto",
                 threads: int = 0, what: str = "face model") -> tuple[Choice, Engine]:
    """(choice, engine) for one face network's `recipe`, with the runtime settings as arguments."""
    return load_recipe(recipe, runtime_settings(backend, precision, device, threads), what)
