"""`run.py build CONFIG [--calib VIDEO_OR_DIR]`: prepare every model file a config needs, ahead of time.

Every model of every stage: the YOLO detector and pose models, the face stage's detector and embedder,
a learned action model. Each is resolved as its stage will resolve it (stages/model_stage.py:
`precision: auto` on a CPU means INT8 where the model has INT8 builds), then the chain `.pt -> .onnx ->
.fp16.onnx | .int8.onnx -> .engine` is walked, each step cached. INT8 is calibrated on `--calib`, else
the stage's `calib:`, else the config's video/image sources, else the model's built-in calibration
frames (said in the report).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engines.artefacts import Calib, ModelRecipe, builtin_calib, calib_from
from pipeline.errors import ArgusError
from stages.actions.model import action_recipe, model_path, read_info
from stages.actions.stage import ActionConfig
from stages.detect import YoloConfig
from stages.faces.loading import networks
from stages.faces.stage import FaceConfig
from stages.model_stage import ModelRuntime, RuntimeSettings, artefact, choose
from stages.models.yolo_recipe import yolo_recipe
from stages.sources import infer_kind

log = logging.getLogger("argus.build")


@dataclass(frozen=True, slots=True)
class Needed:
    """One model file a stage needs: the stage's settings and type, the model as reports name it, its recipe."""

    stage: ModelRuntime
    kind: str
    model: str
    recipe: ModelRecipe

    @property
    def what(self) -> str:
        return f"stage '{self.stage.id or self.kind}' model {self.model}"


def stage_models(stage: Any) -> list[tuple[str, ModelRecipe]]:
    """(model name, recipe) of every model `stage` loads (none for stages without models)."""
    if isinstance(stage, YoloConfig):
        return [(stage.model, yolo_recipe(stage.model, *stage.recipe_imgsz()))]
    if isinstance(stage, FaceConfig):
        detector, embedder = networks(stage.detector, stage.embedder).values()
        return [(stage.detector, detector), (stage.embedder, embedder)]
    if isinstance(stage, ActionConfig) and stage.model != "rules":
        path = model_path(stage.model)
        return [(stage.model, action_recipe(path, read_info(path)))]
    return []


def calibration_sources(sources: Sequence[Any], calib: Path | None, stage_calib: str | None) -> list[Path]:
    """Where INT8 calibration frames come from (first that is set): --calib, the stage, the config's
    video files and image folders (`sources`: source configs with `.uri` and `.kind`)."""
    if calib is not None:
        return [calib]
    if stage_calib:
        return [Path(stage_calib)]
    kinds = [(Path(s.uri), infer_kind(s.uri) if s.kind == "auto" else s.kind) for s in sources]
    return [path for path, kind in kinds if kind in ("video", "images") and path.exists()]


def build_config(config: Any, *, calib: Path | None = None,
                 report: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Build (or find cached) every model file the stages of `config` need (a validated pipeline
    config: `.stages`, `.sources`); one report line per step, one JSON-ready dict per model file."""
    needed = [Needed(stage, stage.type, model, recipe)
              for stage in config.stages for model, recipe in stage_models(stage)]
    built = []
    for number, need in enumerate(needed, 1):
        stage_calib = need.stage.calib if isinstance(need.stage, RuntimeSettings) else None
        sources = calibration_sources(config.sources, calib, stage_calib)
        built.append(_build(need, sources, f"[{number}/{len(needed)}]", report))
    return built


def _build(need: Needed, sources: list[Path], tag: str, report: Callable[[str], None]) -> dict[str, Any]:
    """Resolve one model as its stage will, make its file (calibrating INT8 where needed), report it."""
    recipe, what = need.recipe, need.what
    buildable = bool(sources) or recipe.builtin_frames is not None
    choice = choose(recipe, need.stage, what, int8_built=lambda backend: buildable)  # auto on a CPU: INT8
    if choice.precision == "int8" and not buildable:
        raise ArgusError(f"{what}: INT8 needs calibration frames: pass --calib VIDEO_OR_DIR "
                         f"(the config's sources are not video files or image folders)")
    report(f"{tag} {need.kind} {need.model}: {choice.backend} {choice.precision} on {choice.device} ({choice.reason})")
    frames: Calib | None = None
    if choice.precision == "int8":
        frames = calib_from(sources, recipe.preprocess) if sources else builtin_calib(recipe)
        if not sources:
            report(f"{tag} calibrating INT8 on the model's built-in frames (the config's sources are not "
                   f"video files or image folders; --calib VIDEO_OR_DIR uses your own)")
    start = time.perf_counter()
    path = artefact(recipe, choice, what, frames)
    seconds = time.perf_counter() - start
    report(f"{tag} ready in {seconds:.1f} s: {path}")
    return {"stage": need.kind, "model": need.model, "backend": choice.backend, "precision": choice.precision,
            "device": choice.device, "path": str(path), "seconds": round(seconds, 2)}
