"""The explicit tables from a config `type:` to (config model, implementation).

Adding a stage or sink = one config model, one class, one line in each table here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pipeline.errors import SinkOpenError
from pipeline.stage import Stage, StageConfig
from stages.pose import PoseConfig, PoseStage
from stages.sinks.base import Sink
from stages.sinks.jsonl import DetectionsSink, DetectionsSinkConfig, EventsSink, EventsSinkConfig
from stages.sinks.mot import MotSink, MotSinkConfig
from stages.sinks.mqtt import MqttSink, MqttSinkConfig
from stages.sinks.sqlite_events import SqliteEventsSink, is_sqlite_path
from stages.sinks.video import VideoSink, VideoSinkConfig
from stages.sinks.webhook import WebhookSink, WebhookSinkConfig
from stages.track import TrackConfig, TrackStage

StageConfigUnion = PoseConfig | TrackConfig
SinkConfig = (VideoSinkConfig | DetectionsSinkConfig | EventsSinkConfig | MotSinkConfig | MqttSinkConfig
              | WebhookSinkConfig)

# config `type:` -> config model (a model may serve several types, e.g. pose/detect)
STAGE_CONFIGS: dict[str, type[StageConfig]] = {"pose": PoseConfig, "detect": PoseConfig, "track": TrackConfig}
SINK_CONFIGS: dict[str, type[StageConfig]] = {
    "video": VideoSinkConfig, "detections": DetectionsSinkConfig, "events": EventsSinkConfig,
    "mot": MotSinkConfig, "mqtt": MqttSinkConfig, "webhook": WebhookSinkConfig,
}
_STAGE_CLASSES: dict[type[StageConfig], type] = {PoseConfig: PoseStage, TrackConfig: TrackStage}


def events_sink(config: EventsSinkConfig, output_dir: Path) -> Sink:
    """`type: events`: SQLite when the path ends in .db/.sqlite/.sqlite3, else JSON Lines (chosen here only)."""
    if is_sqlite_path(config.path):
        return SqliteEventsSink(output_dir / config.path, commit_every=config.commit_every,
                                commit_ms=config.commit_ms)
    return EventsSink(config, output_dir)


# config model -> factory(config, output_dir) -> Sink (a class or a function)
_SINK_CLASSES: dict[type[StageConfig], Callable[..., Sink]] = {
    VideoSinkConfig: VideoSink, DetectionsSinkConfig: DetectionsSink, EventsSinkConfig: events_sink,
    MotSinkConfig: MotSink, MqttSinkConfig: MqttSink, WebhookSinkConfig: WebhookSink,
}


def build_stage(config: StageConfig) -> Stage:
    """The stage object for a validated stage config."""
    return _STAGE_CLASSES[type(config)](config)


def build_sink(config: StageConfig, output_dir: Path) -> Sink:
    """The sink object for a validated sink config, writing under `output_dir`.

    Raises:
        SinkOpenError: the sink's file or folder cannot be created (one line naming sink and path).
    """
    try:
        return _SINK_CLASSES[type(config)](config, output_dir)
    except OSError as exc:
        where = exc.filename or getattr(config, "path", output_dir)
        raise SinkOpenError(f"sink '{config.type}': cannot write {where}: {exc.strerror or exc}") from None
