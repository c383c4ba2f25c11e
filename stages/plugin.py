"""The built-in stages, sinks, source kinds and event types, registered into the core's `Registry`.

Found through the `argus.plugins` entry point (pyproject.toml). Adding a stage or sink = one config
model, one class, one line here; source kinds are listed in `stages/sources/__init__.py`, the faces',
actions', zones' and clips' event types in their packages' `events.py`.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.errors import SinkOpenError
from pipeline.registry import Registry
from pipeline.sink import Sink
from pipeline.stage import StageConfig
from stages.actions.events import register_events as register_action_events
from stages.actions.stage import ActionConfig, ActionStage
from stages.detect import DetectConfig, YoloStage
from stages.faces.events import register_events as register_face_events
from stages.faces.stage import FaceConfig, FaceStage
from stages.pose import DEFAULT_POSE_REFRESH, PoseConfig, pose_stage
from stages.sinks.clips.config import ClipsSinkConfig
from stages.sinks.clips.events import register_events as register_clip_events
from stages.sinks.clips.sink import ClipsSink
from stages.sinks.jsonl import DetectionsSink, DetectionsSinkConfig, EventsSink, EventsSinkConfig
from stages.sinks.mot import MotSink, MotSinkConfig
from stages.sinks.mqtt import MqttSink, MqttSinkConfig
from stages.sinks.sqlite_events import SqliteEventsSink, is_sqlite_path
from stages.sinks.video import VideoSink, VideoSinkConfig
from stages.sinks.webhook import WebhookSink, WebhookSinkConfig
from stages.sources import register_sources
from stages.track import TrackConfig, TrackStage
from stages.zones.config import ZonesConfig
from stages.zones.events import register_events as register_zone_events
from stages.zones.stage import ZonesStage


def events_sink(config: EventsSinkConfig, output_dir: Path) -> Sink:
    """`type: events`: SQLite when the path ends in .db/.sqlite/.sqlite3, else JSON Lines (chosen here only)."""
    if is_sqlite_path(config.path):
        return SqliteEventsSink(output_dir / config.path, commit_every=config.commit_every,
                                commit_ms=config.commit_ms)
    return EventsSink(config, output_dir)


def _opening(factory):
    """A sink factory whose OSError becomes a one-line SinkOpenError naming the sink and path."""

    def build(config: StageConfig, output_dir: Path) -> Sink:
        try:
            return factory(config, output_dir)
        except OSError as exc:
            where = exc.filename or getattr(config, "path", output_dir)
            name = config.id or config.type  # type: ignore[attr-defined]
            raise SinkOpenError(f"sink '{name}': cannot write {where}: {exc.strerror or exc}") from None

    return build


def register(registry: Registry) -> None:
    """Add every built-in stage, sink and source kind to `registry`."""
    registry.add_stage("detect", DetectConfig, YoloStage)
    registry.add_stage("pose", PoseConfig, pose_stage)
    registry.add_stage("track", TrackConfig, TrackStage)
    registry.add_stage("action", ActionConfig, ActionStage)
    registry.add_stage("face", FaceConfig, FaceStage)
    registry.add_stage("zones", ZonesConfig, ZonesStage)
    for kind, config, factory in (
            ("video", VideoSinkConfig, VideoSink), ("detections", DetectionsSinkConfig, DetectionsSink),
            ("events", EventsSinkConfig, events_sink), ("mot", MotSinkConfig, MotSink),
            ("mqtt", MqttSinkConfig, MqttSink), ("webhook", WebhookSinkConfig, WebhookSink),
            ("clips", ClipsSinkConfig, ClipsSink)):
        registry.add_sink(kind, config, _opening(factory))
    register_sources(registry)
    register_face_events(registry)
    register_action_events(registry)
    register_zone_events(registry)
    register_clip_events(registry)
    registry.default_stages = [{"type": "detect", "model": "yolov8n", "output": "objects"},
                               {"type": "track", "input": "objects"},
                               {"type": "pose", "model": "yolo11n-pose", "input": "objects",
                                "refresh_frames": DEFAULT_POSE_REFRESH}]
    registry.default_sinks = ["video", "detections", "events"]
