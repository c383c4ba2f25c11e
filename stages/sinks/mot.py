"""MOTChallenge result files: `frame,id,x,y,w,h,score,-1,-1,-1` per tracked box (1-based frames)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from pipeline.stage import StageConfig
from pipeline.types import Packet
from stages.sinks.base import LineFile, SinkBase, output_path


class MotSinkConfig(StageConfig):
    """Tracked boxes in MOTChallenge format, one file per source."""

    type: Literal["mot"] = "mot"
    path: str = Field("{source_id}.txt", description="File under output_dir; {source_id} is filled in.")


class MotSink(SinkBase):
    name = "mot"

    def __init__(self, config: MotSinkConfig, output_dir: Path) -> None:
        self.config, self.output_dir = config, output_dir
        self._files: dict[str, LineFile] = {}

    def write(self, packet: Packet) -> None:
        detections = packet.detections
        if detections.track_id is None:
            return
        source_id = packet.frame.source_id
        handle = self._files.get(source_id)
        if handle is None:
            handle = LineFile(output_path(self.output_dir, self.config.path, source_id))
            self._files[source_id] = handle
        lines = []
        for i in range(len(detections)):
            track_id = int(detections.track_id[i])
            if track_id < 0:
                continue
            x1, y1, x2, y2 = (float(v) for v in detections.xyxy[i])
            lines.append(f"{packet.frame.index + 1},{track_id},{x1:.2f},{y1:.2f},{x2 - x1:.2f},{y2 - y1:.2f},"
                         f"{float(detections.score[i]):.4f},-1,-1,-1\n")
        handle.write_lines("".join(lines))

    def end_source(self, source_id: str) -> None:
        handle = self._files.pop(source_id, None)
        if handle is not None:
            handle.close()

    def close(self) -> None:
        for source_id in list(self._files):
            self.end_source(source_id)
