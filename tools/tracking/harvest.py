"""Run the model stage over a video file frame by frame (for embedding training and benchmarks)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

from pipeline.errors import SourceOpenError
from pipeline.types import Frame, Packet
from stages.pose import PoseConfig, PoseStage
from stages.sources.video import VideoSource


def video_packets(path: Path, pose: PoseStage, frames: int | None = None, start: int = 0
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
