"""The explicit tables from a config `type:` to (config model, implementation).

Adding a stage or sink = one config model, one class, one line in each table here.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.stage import Stage, StageConfig
from stages.pose import PoseConfig, PoseStage
from stages.sinks.base import Sink
from stages.sinks.jsonl import DetectionsSink, DetectionsSinkConfig, EventsSink, EventsSinkConfig
from stages.sinks.mot import MotSink, MotSinkConfig
from stages.sinks.video import VideoSink, VideoSinkConfig
from stages.track import TrackConfig, TrackStage

StageConfigUnion = PoseConfig | TrackConfig
SinkConfig = VideoSinkConfig | DetectionsSinkConfig | EventsSinkConfig | MotSinkConfig

# config `type:` -> config model (a model may serve several types, e.g. pose/detect)
STAGE_CONFIGS: dict[str, type[StageConfig]] = {"pose": PoseConfig, "detect": PoseConfig, "track": TrackConfig}
SINK_CONFIGS: dict[str, type[StageConfig]] = {
    "video": VideoSinkConfig, "detections": DetectionsSinkConfig, "events": EventsSinkConfig,
    "mot": MotSinkConfig,
}
_STAGE_CLASSES: dict[type[StageConfig], type] = {PoseConfig: PoseStage, TrackConfig: TrackStage}
_SINK_CLASSES: dict[type[StageConfig], type] = {
    VideoSinkConfig: VideoSink, DetectionsSinkConfig: DetectionsSink, EventsSinkConfig: EventsSink,
    MotSinkConfig: MotSink,
}


def build_stage(config: StageConfig) -> Stage:
    """The stage object for a validated stage config."""
    return _STAGE_CLASSES[type(config)](config)


def build_sink(config: StageConfig, output_dir: Path) -> Sink:
    """The sink object for a validated sink config, writing under `output_dir`."""
    return _SINK_CLASSES[type(config)](config, output_dir)
