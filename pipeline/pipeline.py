"""The Python API of a running pipeline: build, start, change while it runs, observe, stop.

    reader thread per source --queue--> batcher + stages + sinks (worker thread) --> subscribers

```python
from pipeline import Pipeline
p = Pipeline.from_yaml("configs/default.yaml", overrides=["stages.0.score_min=0.4"])
p.start()                                   # returns at once
p.add_source({"id": "cam2", "uri": "rtsp://...", "reconnect": True})
report = p.apply(new_yaml_text)             # hot reload: only what changed is touched
print(p.stats())
p.stop(); code = p.wait()                   # same exit codes as `run.py run`
```

End of all sources, `stop()`, Ctrl-C and SIGTERM end in the same orderly shutdown: readers stop,
frames already queued are finished (within `runner.shutdown_timeout_s`), every open stream is ended
(track-ended events included), sinks are flushed and closed. Exit codes: 0 success, 1 a source,
sink or stage failed, 130 interrupted.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pipeline.batcher import Batcher
from pipeline.config import PipelineConfig, SourceConfig, coerce_config, load_config
from pipeline.errors import ArgusError, ConfigError
from pipeline.metrics import Metrics
from pipeline.motion import MotionConfig
from pipeline.readers import SourceReader
from pipeline.registry import Registry, default_registry
from pipeline.sink_set import SinkSet, SinkSlot
from pipeline.source_config import resolve_source
from pipeline.source_set import SourceSet
from pipeline.stage import MetricSample, Stage, stage_hook
from pipeline.stage_chain import StageChain, StageSlot
from pipeline.stats import RunStats
from pipeline.subscription import Subscription
from pipeline.types import Event, EventType, Packet
from pipeline.worker import Worker

log = logging.getLogger("argus")

EXIT_OK, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 130


class Pipeline:
    """One pipeline config, run by background threads (the Pipeline protocol, `pipeline.protocol`).

    Args:
        config: the validated pipeline (see `from_yaml` / `from_config`).
        registry: the stage, sink and source types (default: the installed plugins').
        stages: already-built stages to use instead of building them from the config (benchmarks,
            which run them more than once); the caller keeps them: the pipeline never closes them.
        sinks_enabled: False runs without writing any output (benchmarks).
        keep_alive: keep running when every source has ended (a server adding sources later).

    Raises (from the constructor, before any thread starts):
        SourceOpenError: a file source cannot be opened (before any model loads).
        ModelError / SinkOpenError: a stage or sink cannot be built.
    """

    def __init__(self, config: PipelineConfig, *, registry: Registry | None = None,
                 stages: list[Stage] | None = None, sinks_enabled: bool = True, keep_alive: bool = False) -> None:
        self.registry = registry or default_registry()
        self.config = config
        self.version = 1
        self.sinks_enabled = sinks_enabled
        self.run_stats = RunStats()
        self._lock = threading.RLock()  # add/remove/apply, one at a time
        self._started = False
        self._start_time = 0.0
        self.batcher = Batcher(threading.Event())
        self.sources = SourceSet(self.registry, self.batcher, self.run_stats,
                                 lambda: not self.worker.finished.is_set())
        slots: list[StageSlot] = []
        sinks: list[SinkSlot] = []
        try:
            for source_config in config.sources:  # fail fast on bad files, before any model loads
                self.sources.attach(self.sources.open(source_config))
            if stages is not None:
                slots = [StageSlot(getattr(s, "name", f"stage{i}"), s, owned=False) for i, s in enumerate(stages)]
            else:
                for stage_config in config.stages:
                    slots.append(StageSlot(stage_config.id, self.registry.build_stage(stage_config)))
            sinks = self.build_sinks(config.sinks, Path(config.output_dir)) if sinks_enabled else []
        except BaseException:
            self._close_unstarted(slots, sinks)
            raise
        self.metrics: Metrics | None = None
        if config.metrics is not None:
            self.metrics = Metrics(self)
            try:
                self.metrics.serve_config(config.metrics)
            except BaseException:
                self._close_unstarted(slots, sinks)
                raise
        chain = StageChain(slots, self.run_stats, self.metrics.observe if self.metrics else None)
        sink_set = SinkSet(sinks, self.run_stats, self.registry.event_types)
        self.worker = Worker(self.batcher, chain, sink_set, self.run_stats, lambda: self.config.runner)
        self.worker.keep_alive = keep_alive
        self.worker.on_reader_done = self.sources.reader_done
        self.worker.motion_for = self._motion_for

    def _motion_for(self, source_id: str) -> MotionConfig | None:
        """The motion gating of a source (None: off), from its config."""
        reader = self.sources.readers.get(source_id)
        return None if reader is None else reader.config.motion_settings()

    @property
    def readers(self) -> dict[str, SourceReader]:
        """Source id -> its reader (queue depth, drops)."""
        return self.sources.readers

    def _close_unstarted(self, slots: list[StageSlot], sinks: list[SinkSlot]) -> None:
        self.sources.close_unstarted()
        for slot in slots:
            slot.close()
        for sink in sinks:
            sink.sink.close()

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_yaml(cls, path: str | Path | None, overrides: list[str] | None = None, **kwargs: Any) -> Pipeline:
        """Load a YAML config (None: the built-in demo pipeline) with `KEY=VALUE` overrides."""
        registry = kwargs.get("registry")
        return cls(load_config(Path(path) if path else None, overrides, registry=registry), **kwargs)

    @classmethod
    def from_config(cls, value: PipelineConfig | dict[str, Any] | str, **kwargs: Any) -> Pipeline:
        """A pipeline from a config object, a mapping or YAML text."""
        return cls(coerce_config(value, kwargs.get("registry")), **kwargs)

    def build_sinks(self, configs: list[Any], output_dir: Path) -> list[SinkSlot]:
        """Open the sinks of `configs` under `output_dir` (all of them, or none: SinkOpenError)."""
        output_dir.mkdir(parents=True, exist_ok=True)
        slots: list[SinkSlot] = []
        try:
            for sink_config in configs:
                slots.append(SinkSlot(sink_config.id, self.registry.build_sink(sink_config, output_dir),
                                      sink_config.type))
        except BaseException:
            for slot in slots:
                slot.sink.close()
            raise
        return slots

    def total_frames(self) -> int | None:
        """Frames the run will process, when every source is finite and knows its length."""
        return self.sources.total_frames()

    # ------------------------------------------------------------------ lifecycle
    @property
    def ended(self) -> bool:
        """True once the run is over: every stream ended and every output closed."""
        return self.worker.finished.is_set()

    @property
    def interrupted(self) -> bool:
        """True once Ctrl-C / SIGTERM (or a caller) interrupted the run: exit 130."""
        return self.worker.interrupted

    @interrupted.setter
    def interrupted(self, value: bool) -> None:
        self.worker.interrupted = value

    @property
    def on_frames(self) -> Callable[[int], None] | None:
        return self.worker.on_frames

    @on_frames.setter
    def on_frames(self, callback: Callable[[int], None] | None) -> None:
        """Called after each batch with its number of frames (progress bars)."""
        self.worker.on_frames = callback

    def start(self) -> Pipeline:
        """Start the reader threads and the worker; returns at once."""
        if self._started:
            raise ArgusError("pipeline already started")
        self._started = True
        self._start_time = time.perf_counter()
        self.worker.on_fatal = self.sources.stop_all
        self.worker.thread = threading.Thread(target=self.worker.run, name="argus-worker", daemon=True)
        with self._lock:
            self.sources.start()
        self.worker.thread.start()
        return self

    def stop(self) -> None:
        """Orderly stop: readers end their streams, queued frames are finished, sinks closed.
        A pipeline never started just closes what it opened."""
        if not self._started:
            self._started = True
            self._start_time = time.perf_counter()
            self.sources.close_unstarted()
            self.worker.shutdown()
            return
        self.worker.request_stop()
        self.sources.stop_all()

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for the end of the run; its exit code, or None if still running after `timeout`."""
        if not self.worker.finished.wait(timeout):
            return None
        self.run_stats.wall_s = time.perf_counter() - self._start_time
        self.sources.join_all(timeout=2.0)
        if self.metrics is not None:
            self.metrics.close()
        return self.exit_code()

    def exit_code(self) -> int:
        if self.interrupted:
            return EXIT_INTERRUPTED
        stats = self.run_stats
        failed = stats.failed_sources or stats.failed_sinks or stats.sink_errors or self.worker.fatal
        return EXIT_FAILED if failed else EXIT_OK

    def run(self) -> int:
        """Start, then wait for the end (Ctrl-C / SIGTERM stop it in order); returns the exit code."""
        with self._signals():
            self.start()
            try:
                code = None
                while code is None:
                    code = self.wait(0.2)
            except KeyboardInterrupt:  # second Ctrl-C: drop queued frames, still close every output
                self.interrupted = True
                self.worker.abandon.set()
                self.stop()
                code = self.wait()
        return code if code is not None else EXIT_FAILED

    @contextlib.contextmanager
    def _signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handle(signum: int, _frame: object) -> None:
            if self.interrupted and signum == signal.SIGINT:
                raise KeyboardInterrupt
            self.interrupted = True
            log.warning("%s received: finishing queued frames and closing outputs", signal.Signals(signum).name)
            self.stop()

        previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    # ------------------------------------------------------------------ sources
    def add_source(self, source: SourceConfig | dict[str, Any]) -> None:
        """Start a new source while running (`source_added` event). A file that cannot open raises
        SourceOpenError; a live source with `reconnect` retries in the background."""
        with self._lock:
            config = _source_config(source, self.registry)
            if self.worker.finished.is_set():
                raise ArgusError(f"source '{config.id}': the pipeline has already ended")
            if self.sources.running(config.id) is not None:  # one that ended on its own may start again
                raise ConfigError([f"sources: id '{config.id}' is already running"])
            reader = self.sources.open(config)
            self.emit([Event(EventType.SOURCE_ADDED, config.id, payload={"uri": reader.source_uri()})])
            self.sources.attach(reader)
            kept = [s for s in self.config.sources if s.id != config.id]
            self.config = self.config.model_copy(update={"sources": [*kept, config]})

    def remove_source(self, source_id: str, timeout: float | None = None) -> None:
        """End a source while running: its streams end (tracks ended, stream_ended), its outputs are
        closed, then `source_removed`. Waits until it is gone (at most `timeout` seconds)."""
        with self._lock:
            reader = self.sources.readers.get(source_id)
            if reader is None:
                raise ConfigError([f"sources: no running source with id '{source_id}'"])
            limit = timeout if timeout is not None else self.config.runner.shutdown_timeout_s + 5.0
            self.sources.detach(reader, limit)
            self.config = self.config.model_copy(update={
                "sources": [s for s in self.config.sources if s.id != source_id]})
        self.emit([Event(EventType.SOURCE_REMOVED, source_id)])

    # ------------------------------------------------------------------ hot reload
    def apply(self, new_config: PipelineConfig | dict[str, Any] | str) -> dict[str, Any]:
        """Hot reload (see pipeline.hot_reload): validate, then touch only what changed.

        Returns `{"version": N, "changed": {...}}`. Raises ConfigError (nothing changed) when the
        config is invalid, ReloadError (old config still running) when a rebuild fails.
        """
        from pipeline.hot_reload import apply_config

        if self.worker.finished.is_set():
            raise ArgusError("apply: the pipeline has already ended")
        with self._lock:
            return apply_config(self, new_config)

    # ------------------------------------------------------------------ observing
    def emit(self, events: list[Event]) -> None:
        """Send pipeline-level events to every sink, in order with the frames' events."""
        self.worker.call(lambda: self.worker.emit(events)).result()

    def subscribe(self, maxlen: int = 8, lossless: bool = False) -> Subscription[Packet]:
        """Processed packets, as they leave the sinks. A slow consumer loses the oldest (counted in
        `dropped`) unless `lossless`, which makes the pipeline wait for it."""
        subscription: Subscription[Packet] = Subscription(maxlen, lossless)
        with self.worker._lock:
            self.worker.packet_subscribers.append(subscription)
        return subscription

    def subscribe_events(self, maxlen: int = 1000) -> Subscription[Event]:
        """Every event the sinks receive, in order; the oldest are dropped when the consumer lags."""
        subscription: Subscription[Event] = Subscription(maxlen)
        with self.worker._lock:
            self.worker.event_subscribers.append(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription[Any]) -> None:
        with self.worker._lock:
            for group in (self.worker.packet_subscribers, self.worker.event_subscribers):
                if subscription in group:
                    group.remove(subscription)
        subscription.close()

    def packets(self, maxlen: int = 8) -> Iterator[Packet]:
        """Start (if needed) and yield every processed packet in this thread; leaving the loop early
        stops the pipeline."""
        subscription = self.subscribe(maxlen, lossless=True)
        if not self._started:
            self.start()
        try:
            yield from subscription
        finally:
            self.unsubscribe(subscription)
            if not self.worker.finished.is_set():
                self.stop()
            self.wait()

    def stats(self) -> dict[str, Any]:
        """A JSON-ready snapshot: per source frames/FPS/drops/state, per stage ms and errors, sinks."""
        from pipeline.snapshot import snapshot

        return snapshot(self)

    def metric_samples(self) -> list[MetricSample]:
        """The Prometheus samples of stages that publish some (`metric_samples`), labelled with their id."""
        samples = []
        for slot in list(self.worker.chain.slots):
            hook = stage_hook(slot.stage, "metric_samples")
            if hook is not None:
                samples += [s._replace(labels={"stage": slot.id, **s.labels}) for s in hook()]
        return samples


def _source_config(value: SourceConfig | dict[str, Any], registry: Registry | None = None) -> SourceConfig:
    """A source entry validated as its kind's config (ConfigError: one line per problem)."""
    return resolve_source(value, registry or default_registry())
