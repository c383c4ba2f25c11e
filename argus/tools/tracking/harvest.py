"""Run the model stage over a video file frame by frame (for embedding training and benchmarks)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

from pipeline.errors import SourceOpenError
from pipeline.types import Frame, Packet
from stages.detect import DetectConfig, YoloStage
from stages.models.builtin import BUILTIN_MODELS
from stages.pose import PoseConfig, PoseStage
from stages.sources.video import VideoSource


def video_packets(path: Path, pose: YoloStage, frames: int | None = None, start: int = 0
                  ) -> Iterator[Packet]:
    """Packets of frames [start, start + frames) of `path`, each processed by `pose` alone."""
    if not Path(path).is_file():
        raise SourceOpenError(f"video not found: {path}")
    source = VideoSource(Path(path).stem, str(path))
    stop = threading.Event()
    try:
        for item in source.items(stop):
            if not isinstance(item, Frame) or item.index < start:
                continue
            if frames is not None and item.index >= start + frames:
                break
            yield pose.process([Packet(item)])[0]
    finally:
        source.close()


def pose_stage(imgsz: int, *, feature_maps: bool = False, backend: str = "auto") -> PoseStage:
    """The default pose model at `imgsz` with embeddings (and feature maps when asked)."""
    return PoseStage(PoseConfig(imgsz=imgsz, backend=backend, embeddings=True,  # type: ignore[arg-type]
                                feature_maps=feature_maps))


def people_stage(model: str, imgsz: int, *, backend: str = "auto") -> YoloStage:
    """A whole-frame model stage finding people with embeddings: `model` as a pose stage when it is a pose
    model, else as a detector keeping the class `person`."""
    builtin = BUILTIN_MODELS.get(model)
    if builtin is not None and builtin.task == "detect":
        return YoloStage(DetectConfig(model=model, imgsz=imgsz, backend=backend, classes=["person"],  # type: ignore
                                      embeddings=True))
    return PoseStage(PoseConfig(model=model, imgsz=imgsz, backend=backend, embeddings=True))  # type: ignore
