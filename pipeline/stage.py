"""The interface every processing stage implements, and the base of every stage and sink config."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from pipeline.types import Event, Packet


class StageConfig(BaseModel):
    """Base of every stage's and sink's config model: unknown keys are errors.

    `id` names the stage (or sink) across config versions: hot reload matches old and new
    entries by it. Left out, it defaults to the `type`, numbered from the second of a type on
    (`pose`, `pose-2`).
    """

    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]+$", description="Name used to match this entry "
                           "across config versions (hot reload), in stats and in logs; default: its type, "
                           "numbered when a type repeats.")

    def check_order(self, earlier: Sequence[StageConfig]) -> str | None:
        """A problem with this stage given the stages before it (e.g. a missing input), or None."""
        return None

    def input_set(self) -> str | None:
        """The detection set this stage reads (its `input:`), or None for every row."""
        value = getattr(self, "input", None)
        return value if isinstance(value, str) else None

    def needs(self) -> frozenset[str]:
        """What the rows it reads must carry (`boxes`, `keypoints`, `track_ids`, `embeddings`...)."""
        return frozenset()

    def provides(self) -> tuple[str | None, frozenset[str]]:
        """The set it writes (None: it adds to the set it reads, or to every set) and what it adds."""
        return None, frozenset()


@runtime_checkable
class Stage(Protocol):
    """A step of the pipeline. Stages never start threads; the pipeline calls them in config order,
    from one worker thread.

    `process` receives a batch of packets (frames from one or several sources) and returns them,
    usually the same objects with `detections` / `events` filled. Per-source state is keyed by
    `packet.frame.source_id`. An exception is contained: the batch goes on without this stage.

    Optional hooks, found by name:
      - `reconfigure(config) -> bool`: take a changed config in place, keeping state; False (and
        nothing changed) when the change needs a new object. Called between two batches.
      - `take_over(old)`: a rebuilt stage inherits what must outlive the old object (e.g. the
        track id counters), before the old one is closed.
      - `counts() -> dict`: JSON-ready counts (e.g. line crossings), shown by `stats()` under
        `counts.<stage id>`; may be called from any thread, so return a snapshot.
      - `metric_samples() -> list[MetricSample]`: the same for Prometheus (any thread).
      - `stream(packets) -> Iterator[Packet]`: `process` over packets that arrive one at a time as
        the stage before hands them on, yielding each as soon as it is done with it (in order within
        a source), so later stages start on it while this one works on the rest of the batch
        (`pipeline/stage_chain.py`). The detector, the tracker and top-down pose stream.
    Optional attribute: `motion_gated = True` (model stages, the tracker): the stage skips the still
    frames of motion-gated sources, which keep its rows from the last frame it ran on; its optional
    `on_still(packet)` hook is called for each such frame instead (the tracker counts no time passing).
    """

    name: str

    def process(self, batch: Sequence[Packet]) -> list[Packet]: ...

    def end_source(self, source_id: str) -> list[Event]:
        """Drop the state kept for a source that ended; returns events this causes (tracks ended)."""
        ...

    def close(self) -> None: ...


class MetricSample(NamedTuple):
    """One Prometheus sample a stage publishes (`metric_samples`): every sample of one name must carry
    the same label keys; the pipeline adds the label `stage` (the stage's id)."""

    name: str  # e.g. argus_line_crossings
    help: str
    labels: dict[str, str]
    value: float
    kind: str = "gauge"  # gauge | counter


def stage_hook(stage: Any, name: str) -> Any:
    """The optional hook `name` of a stage, or None."""
    hook = getattr(stage, name, None)
    return hook if callable(hook) else None
