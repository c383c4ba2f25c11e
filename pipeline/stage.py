"""The interface every processing stage implements, and the base of every stage config."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from pipeline.types import Event, Packet


class StageConfig(BaseModel):
    """Base of every stage's config model: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


@runtime_checkable
class Stage(Protocol):
    """A step of the pipeline. Stages never start threads; the runner calls them in config order.

    `process` receives a batch of packets (frames from one or several sources) and returns them,
    usually the same objects with `detections` / `events` filled. Per-source state is keyed by
    `packet.frame.source_id`.
    """

    name: str

    def process(self, batch: Sequence[Packet]) -> list[Packet]: ...

    def end_source(self, source_id: str) -> list[Event]:
        """Drop the state kept for a source that ended; returns events this causes (tracks ended)."""
        ...

    def close(self) -> None: ...
