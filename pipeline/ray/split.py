"""Which sinks run on the actors (per-source files) and which on the driver (merged outputs)."""

from __future__ import annotations

from typing import Any

from pipeline.config import PipelineConfig

PER_SOURCE_TYPES = frozenset({"video"})  # one file per source whatever its path says


def is_per_source(sink: Any) -> bool:
    """A sink writing one file per source: a video sink, or any sink whose `path` has `{source_id}`."""
    return getattr(sink, "type", None) in PER_SOURCE_TYPES or "{source_id}" in str(getattr(sink, "path", ""))


def actor_config(config: PipelineConfig, sources: list[dict[str, Any]], wrapper_type: str) -> dict[str, Any]:
    """The config an actor runs: the stages, its own sources and the per-source sinks (each wrapped in
    `wrapper_type`, which gives every stream segment its own files); no metrics, no progress bar."""
    data = config.model_dump(mode="json", exclude={"metrics"})
    data["sources"] = sources
    data["sinks"] = [{"type": wrapper_type, "id": sink.id, "inner": sink.model_dump(mode="json")}
                     for sink in config.sinks if is_per_source(sink)]
    data["runner"]["progress"] = False
    return data


def driver_sinks(config: PipelineConfig) -> list[Any]:
    """The sink configs the driver opens: every sink that is not per source (JSONL, events, MQTT...)."""
    return [sink for sink in config.sinks if not is_per_source(sink)]
