"""The Pipeline protocol: what every runner of a config offers, in one process or over Ray.

`pipeline.Pipeline` (threads in this process) and `pipeline.ray.driver.RayPipeline` (actors) both
implement it; `run.py serve`, the CLI and the metrics endpoint use nothing else, so they drive
either runner the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from pipeline.config import PipelineConfig, SourceConfig
    from pipeline.metrics import Metrics
    from pipeline.stats import RunStats
    from pipeline.subscription import Subscription
    from pipeline.types import Event, Packet


@runtime_checkable
class PipelineAPI(Protocol):
    """A running (or runnable) pipeline: build it, start it, change it while it runs, observe it,
    stop it. Exit codes: 0 success, 1 a source, sink or stage failed, 130 interrupted."""

    config: PipelineConfig  # the config in force (sources added or removed while running included)
    version: int  # 1, then one more for each applied change
    run_stats: RunStats  # counters of the run (frames, per-source state, failures)
    metrics: Metrics | None  # the `metrics:` endpoint it serves, if any
    interrupted: bool  # Ctrl-C / SIGTERM (or a caller) interrupted it: exit code 130

    @property
    def ended(self) -> bool:
        """True once the run is over: every stream ended and every output closed."""
        ...

    @property
    def on_frames(self) -> Callable[[int], None] | None:
        """Called with the number of frames of each delivered batch (progress bars)."""
        ...

    @on_frames.setter
    def on_frames(self, callback: Callable[[int], None] | None) -> None: ...

    # lifecycle
    def start(self) -> PipelineAPI:
        """Start the run in the background (models load first); returns itself."""
        ...

    def stop(self) -> None:
        """Orderly stop: streams end, queued frames are finished, outputs are closed."""
        ...

    def wait(self, timeout: float | None = None) -> int | None:
        """The exit code once the run is over, or None if it still runs after `timeout` seconds."""
        ...

    def run(self) -> int:
        """Start, then wait for the end; the exit code."""
        ...

    def exit_code(self) -> int: ...

    def total_frames(self) -> int | None:
        """Frames the run will process, when every source is finite and knows its length."""
        ...

    # changes while running
    def add_source(self, source: SourceConfig | dict[str, Any]) -> None: ...

    def remove_source(self, source_id: str, timeout: float | None = None) -> None: ...

    def apply(self, new_config: PipelineConfig | dict[str, Any] | str) -> dict[str, Any]:
        """Hot reload: touch only what changed; `{"version": N, "changed": {...}}`. ConfigError
        (nothing changed) for an invalid config, ReloadError (the old config runs on) when a part
        cannot be brought up."""
        ...

    # observing
    def emit(self, events: list[Event]) -> None: ...

    def subscribe(self, maxlen: int = 8, lossless: bool = False) -> Subscription[Packet]: ...

    def subscribe_events(self, maxlen: int = 1000) -> Subscription[Event]: ...

    def unsubscribe(self, subscription: Subscription[Any]) -> None: ...

    def packets(self, maxlen: int = 8) -> Iterator[Packet]: ...

    def stats(self) -> dict[str, Any]:
        """A JSON-ready snapshot: state, per-source frames/FPS/state, per-stage timing, sinks."""
        ...
