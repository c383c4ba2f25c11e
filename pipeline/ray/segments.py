"""Per-source files on an actor: one inner sink per stream segment, so a stream resumed after a fault
(on a restarted or another actor) writes new files next to the old ones instead of clobbering them.

Segment 0 uses the configured path (`cam1.mp4`); segment k >= 1 inserts `.part{k}` before the suffix
(`cam1.part1.mp4`). The driver numbers segments, so two actors never write the same file.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from pipeline.registry import Registry
from pipeline.sink import Sink
from pipeline.source import StreamStart
from pipeline.stage import StageConfig, stage_hook
from pipeline.types import Event, Packet

WRAPPER_TYPE = "ray_per_source"


class SegmentedSinkConfig(StageConfig):
    """A per-source sink of the user's config, run by the actor that owns the stream (internal)."""

    type: Literal["ray_per_source"] = "ray_per_source"
    inner: dict[str, Any] = Field(description="The user's sink entry.")


def segment_path(template: str, source_id: str, segment: int) -> str:
    """The inner sink's `path` for one segment of one stream (braces escaped: it is a template)."""
    path = template.format(source_id=source_id)
    if segment > 0:
        p = Path(path)
        path = str(p.with_name(f"{p.stem}.part{segment}{p.suffix}"))
    return path.replace("{", "{{").replace("}", "}}")


class SegmentedSink:
    """Forwards each stream's calls to its own instance of the inner sink."""

    name = "per_source"

    def __init__(self, config: SegmentedSinkConfig, output_dir: Path, registry: Registry,
                 segment_of: Callable[[str], int]) -> None:
        self.config, self.output_dir, self.registry, self.segment_of = config, output_dir, registry, segment_of
        self._sinks: dict[str, Sink] = {}

    def _sink(self, source_id: str) -> Sink:
        sink = self._sinks.get(source_id)
        if sink is None:
            inner = dict(self.config.inner)
            inner["path"] = segment_path(str(inner.get("path", "{source_id}")), source_id, self.segment_of(source_id))
            model = self.registry.sinks[inner["type"]].config
            sink = self._sinks[source_id] = self.registry.build_sink(model.model_validate(inner), self.output_dir)
        return sink

    def reconfigure(self, config: SegmentedSinkConfig) -> bool:
        """A hot reload: True when every open stream's sink took the new settings in place (its
        `reconfigure`), which later streams then open with; False: the wrapper is reopened."""
        if config.inner.get("type") != self.config.inner.get("type"):
            return False
        model = self.registry.sinks[config.inner["type"]].config
        done = True
        for source_id, sink in self._sinks.items():
            inner = dict(config.inner)
            inner["path"] = segment_path(str(inner.get("path", "{source_id}")), source_id, self.segment_of(source_id))
            hook = stage_hook(sink, "reconfigure")
            done = done and hook is not None and bool(hook(model.model_validate(inner)))
        if done:
            self.config = config
        return done

    def start_source(self, start: StreamStart) -> None:
        self._sink(start.source_id).start_source(start)

    def write(self, packet: Packet) -> None:
        self._sink(packet.frame.source_id).write(packet)

    def write_events(self, events: Sequence[Event]) -> None:
        pass  # events are merged by the driver

    def end_source(self, source_id: str) -> None:
        sink = self._sinks.pop(source_id, None)
        if sink is not None:
            sink.end_source(source_id)
            sink.close()

    def close(self) -> None:
        for source_id in list(self._sinks):
            self.end_source(source_id)


def with_segments(registry: Registry, segment_of: Callable[[str], int]) -> Registry:
    """A copy of `registry` that also knows the wrapper sink type (and a source factory left as is)."""
    copy = registry.copy()
    copy.add_sink(WRAPPER_TYPE, SegmentedSinkConfig,
                  lambda config, output_dir: SegmentedSink(config, output_dir, registry, segment_of))
    return copy
