"""`run.py build CONFIG [--calib VIDEO_OR_DIR]`: prepare every model file a config needs, ahead of time.

For each model stage: resolve its backend/precision as the stage will (`precision: auto` on a
CPU means INT8 when there are calibration frames), then walk the chain
`.pt -> .onnx -> .fp16.onnx | .int8.onnx | .int8.xml -> .engine`, each step cached. INT8 is
calibrated on `--calib`, else the stage's `calib:`, else the config's video/image sources.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engines.artefacts import Request, calib_from, model_file
from engines.select import resolve
from pipeline.config import PipelineConfig
from pipeline.errors import ArgusError

log = logging.getLogger("argus.build")


def calibration_sources(config: PipelineConfig, calib: Path | None, stage_calib: str | None) -> list[Path]:
    """Where INT8 calibration frames come from (first that is set): --calib, the stage, the config."""
    if calib is not None:
        return [calib]
    if stage_calib:
        return [Path(stage_calib)]
    from stages.sources import infer_kind

    kinds = [(Path(s.uri), infer_kind(s.uri) if s.kind == "auto" else s.kind) for s in config.sources]
    return [path for path, kind in kinds if kind in ("video", "images") and path.exists()]


def build_config(config: PipelineConfig, *, calib: Path | None = None,
                 report: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Build (or find cached) the model file of every model stage; one report line per step."""
    built: list[dict[str, Any]] = []
    stages = [s for s in config.stages if hasattr(s, "backend") and hasattr(s, "model")]
    for number, stage in enumerate(stages, 1):
        what = f"stage {number}/{len(stages)} '{stage.type}' ({stage.model})"
        sources = calibration_sources(config, calib, getattr(stage, "calib", None))
        choice = resolve(stage.backend, stage.precision, stage.device, what=what,
                         int8_built=lambda backend, found=bool(sources): found)  # auto on a CPU: INT8
        if choice.precision == "int8" and not sources:
            raise ArgusError(f"{what}: INT8 needs calibration frames: pass --calib VIDEO_OR_DIR "
                             f"(the config's sources are not video files or image folders)")
        report(f"[{number}/{len(stages)}] {stage.type} {stage.model}: {choice.backend} {choice.precision} on "
               f"{choice.device} ({choice.reason})")
        start = time.perf_counter()
        path = model_file(Request(stage.model, stage.imgsz, choice.backend, choice.precision, choice.device),
                          calib_from(sources, stage.imgsz) if choice.precision == "int8" else None)
        seconds = time.perf_counter() - start
        report(f"[{number}/{len(stages)}] ready in {seconds:.1f} s: {path}")
        built.append({"stage": stage.type, "model": stage.model, "backend": choice.backend,
                      "precision": choice.precision, "device": choice.device, "path": str(path),
                      "seconds": round(seconds, 2)})
    return built
