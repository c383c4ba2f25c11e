"""`run.py build CONFIG [--calib VIDEO_OR_DIR]`: prepare every model file a config needs, ahead of time.

For each model stage: resolve its backend/precision as the stage will (`precision: auto` on a
CPU means INT8), then walk the chain `.pt -> .onnx -> .fp16.onnx | .int8.onnx -> .engine`, each
step cached. INT8 is calibrated on `--calib`, else the stage's `calib:`, else the config's
video/image sources, else the model's built-in calibration frames (said in the report).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from engines.artefacts import Calib, Request, builtin_calib, calib_from, model_file
from engines.select import resolve
from pipeline.errors import ArgusError
from stages.detect import YoloConfig
from stages.models.yolo_recipe import yolo_recipe
from stages.sources import infer_kind

log = logging.getLogger("argus.build")


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
    """Build (or find cached) the model file of every model stage of `config` (a validated pipeline
    config: `.stages`, `.sources`); one report line per step, one JSON-ready dict per stage."""
    built: list[dict[str, Any]] = []
    stages = [s for s in config.stages if isinstance(s, YoloConfig)]
    for number, stage in enumerate(stages, 1):
        what = f"stage {number}/{len(stages)} '{stage.type}' ({stage.model})"
        sources = calibration_sources(config.sources, calib, stage.calib)
        recipe = yolo_recipe(stage.model, *stage.recipe_imgsz())
        buildable = bool(sources) or recipe.builtin_frames is not None
        choice = resolve(stage.backend, stage.precision, stage.device, what=what,
                         int8_built=lambda backend, found=buildable: found)  # auto on a CPU: INT8
        if choice.precision == "int8" and not buildable:
            raise ArgusError(f"{what}: INT8 needs calibration frames: pass --calib VIDEO_OR_DIR "
                             f"(the config's sources are not video files or image folders)")
        report(f"[{number}/{len(stages)}] {stage.type} {stage.model}: {choice.backend} {choice.precision} on "
               f"{choice.device} ({choice.reason})")
        frames: Calib | None = None  # not `calib`: that is the --calib path, the same for every stage
        if choice.precision == "int8":
            frames = calib_from(sources, recipe.preprocess) if sources else builtin_calib(recipe)
            if not sources:
                report(f"[{number}/{len(stages)}] calibrating INT8 on the model's built-in frames (the config's "
                       f"sources are not video files or image folders; --calib VIDEO_OR_DIR uses your own)")
        start = time.perf_counter()
        path = model_file(Request(recipe, choice.backend, choice.precision, choice.device), frames)
        seconds = time.perf_counter() - start
        report(f"[{number}/{len(stages)}] ready in {seconds:.1f} s: {path}")
        built.append({"stage": stage.type, "model": stage.model, "backend": choice.backend,
                      "precision": choice.precision, "device": choice.device, "path": str(path),
                      "seconds": round(seconds, 2)})
    return built
