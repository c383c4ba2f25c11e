"""The runner: owns every thread and queue, batches frames across sources, runs stages, feeds sinks.

    reader thread per source --FrameQueue--> batcher (this thread) --> stages in order --> sinks

End of all sources, Ctrl-C and SIGTERM end in the same orderly shutdown: readers stop, frames
already queued are finished (within `shutdown_timeout_s`), every stream still open is ended
(track-ended events included), and sinks are flushed and closed. Exit codes: 0 success, 1 a
source or sink failed, 130 interrupted.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from pipeline.config import PipelineConfig
from pipeline.errors import ConfigError
from pipeline.frame_queue import FrameQueue
from pipeline.metrics import Metrics
from pipeline.stage import Stage
from pipeline.stats import RunStats
from pipeline.types import Event, EventType, Frame, Packet
from stages.registry import build_sink, build_stage
from stages.sinks.base import Sink
from stages.sources import Source, StreamEnd, StreamLost, StreamRecovered, StreamStart, make_source

log = logging.getLogger("argus")

EXIT_OK, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 130
_DONE = object()  # a reader thread finished


class Runner:
    """Runs one pipeline config to completion (or until interrupted).

    Args:
        config: the validated pipeline.
        on_frames: called after each batch with the number of frames it held (progress bars).
        stages: already-built stages to use instead of building them from the config (benchmarks).
        sinks_enabled: False runs without writing any output (benchmarks).
    """

    def __init__(self, config: PipelineConfig, *, on_frames: Callable[[int], None] | None = None,
                 stages: list[Stage] | None = None, sinks_enabled: bool = True) -> None:
        self.config = config
        self.on_frames = on_frames
        self.stats = RunStats()
        self.stop_event = threading.Event()
        self.interrupted = False
        self._sink_failed = False
        self._wakeup = threading.Condition()
        # Fail fast on bad sources before any model loads (SourceOpenError -> exit 2).
        self.sources: list[Source] = []
        self.sinks: list[Sink] = []
        try:
            for source_config in config.sources:
                source = make_source(source_config)
                source.open()
                self.sources.append(source)
            self.stages: list[Stage] = stages if stages is not None else [build_stage(c) for c in config.stages]
            output_dir = Path(config.output_dir)
            for sink_config in config.sinks if sinks_enabled else []:
                self.sinks.append(build_sink(sink_config, output_dir))
        except BaseException:  # close what was opened: sources, and sinks with threads or outboxes
            for source in self.sources:
                source.close()
            for sink in self.sinks:
                sink.close()
            raise
        self.queues = {
            s.id: FrameQueue(c.queue_size, drop_oldest=s.live, notify=self._wakeup)
            for s, c in zip(self.sources, config.sources, strict=True)
        }
        self._open_streams: set[str] = set()
        self._threads: list[threading.Thread] = []
        self.metrics: Metrics | None = None
        if config.metrics is not None:
            self.metrics = Metrics(self)
            try:
                self.metrics.serve(config.metrics.port, config.metrics.host)
            except OSError as exc:
                raise ConfigError([f"metrics.port: cannot listen on {config.metrics.host}:{config.metrics.port}: "
                                   f"{exc.strerror or exc}"]) from None

    def total_frames(self) -> int | None:
        """Frames the run will process, when every source is finite and knows its length."""
        total = 0
        for source, config in zip(self.sources, self.config.sources, strict=True):
            count = source.total_frames()
            if count is None:
                return None
            count = -(-count // config.frame_interval)
            total += min(count, config.max_frames) if config.max_frames else count
        return total

    # ------------------------------------------------------------------ readers
    def _read(self, source: Source, queue: FrameQueue, max_frames: int | None, interval: int) -> None:
        open_streams: list[str] = []
        emitted = 0
        try:
            for item in source.items(self.stop_event):
                if isinstance(item, Frame):
                    if item.index % interval:
                        continue
                    if max_frames is not None and emitted >= max_frames:
                        break
                    emitted += 1
                elif isinstance(item, StreamStart):
                    open_streams.append(item.source_id)
                elif isinstance(item, StreamEnd) and item.source_id in open_streams:
                    open_streams.remove(item.source_id)
                if not queue.put(item, self.stop_event):
                    break
        except Exception as exc:  # a reader must never die silently: report it as a stream error
            log.debug("reader %s crashed", source.id, exc_info=True)
            error = f"reader failed: {type(exc).__name__}: {exc}"
            for stream_id in open_streams or [source.id]:
                queue.put(StreamEnd(stream_id, error), threading.Event())
            open_streams = []
        finally:
            for stream_id in open_streams:  # max_frames reached or stopped: close what is still open
                queue.put(StreamEnd(stream_id), threading.Event())
            source.close()
            queue.put(_DONE, threading.Event())

    # ------------------------------------------------------------------ batching
    def _handle_marker(self, item: StreamStart | StreamEnd | StreamLost | StreamRecovered) -> None:
        if isinstance(item, StreamLost):
            # Continuity is gone: stages drop the stream's state (tracks end); outputs stay open.
            log.warning("source '%s': stream lost (%s); reconnecting", item.source_id, item.reason)
            events = [e for stage in self.stages for e in stage.end_source(item.source_id)]
            self._emit([*events, Event(EventType.STREAM_LOST, item.source_id, payload={"reason": item.reason})])
            self.stats.reconnects[item.source_id] = self.stats.reconnects.get(item.source_id, 0) + 1
            return
        if isinstance(item, StreamRecovered):
            log.info("source '%s': stream recovered after %.1f s", item.source_id, item.gap_s)
            self._emit([Event(EventType.STREAM_RECOVERED, item.source_id,
                              payload={"gap_s": item.gap_s, "attempts": item.attempts})])
            return
        if isinstance(item, StreamStart):
            self._open_streams.add(item.source_id)
            for sink in self.sinks:
                self._call_sink(sink, "start_source", item)
            self._emit([Event(EventType.STREAM_OPENED, item.source_id, payload={
                "uri": item.uri, "width": item.width, "height": item.height, "fps": round(item.fps, 3),
                "frames": item.frames})])
            return
        self._end_stream(item.source_id, item.error)

    def _end_stream(self, source_id: str, error: str | None) -> None:
        self._open_streams.discard(source_id)
        events: list[Event] = []
        for stage in self.stages:
            events.extend(stage.end_source(source_id))
        if error:
            self.stats.failed_sources[source_id] = error
            log.error("source '%s': %s", source_id, error)
            events.append(Event(EventType.STREAM_ERROR, source_id, payload={"error": error}))
        else:
            events.append(Event(EventType.STREAM_ENDED, source_id, payload={
                "frames": self.stats.frames_per_source.get(source_id, 0),
                **({"reason": "interrupted"} if self.interrupted else {})}))
        self._emit(events)
        for sink in self.sinks:
            self._call_sink(sink, "end_source", source_id)

    def _emit(self, events: Sequence[Event]) -> None:
        if events:
            for sink in self.sinks:
                self._call_sink(sink, "write_events", events)

    def _call_sink(self, sink: Sink, method: str, *args: object) -> None:
        try:
            getattr(sink, method)(*args)
        except Exception as exc:
            if not self._sink_failed:
                log.error("sink '%s': %s: %s", sink.name, type(exc).__name__, exc)
            self._sink_failed = True
            self.stop_event.set()

    def _process(self, frames: list[Frame]) -> None:
        packets = [Packet(frame) for frame in frames]
        for stage in self.stages:
            start = time.perf_counter()
            packets = stage.process(packets)
            elapsed = time.perf_counter() - start
            self.stats.timing(stage.name).add(elapsed, len(packets))
            if self.metrics is not None:
                self.metrics.stage_latency.labels(stage.name).observe(elapsed)
            share = 1000.0 * elapsed / max(1, len(packets))
            for packet in packets:
                packet.timings[stage.name] = share
        start = time.perf_counter()
        for packet in packets:
            for sink in self.sinks:
                self._call_sink(sink, "write", packet)
            self._emit(packet.events)
            source_id = packet.frame.source_id
            self.stats.frames_per_source[source_id] = self.stats.frames_per_source.get(source_id, 0) + 1
        if self.sinks:
            self.stats.timing("sinks").add(time.perf_counter() - start, len(packets))
        self.stats.frames += len(packets)
        if self.on_frames is not None:
            self.on_frames(len(packets))

    def _loop(self) -> None:
        max_batch = self.config.runner.max_batch
        max_wait = self.config.runner.max_wait_ms / 1000.0
        queues = list(self.queues.values())
        running = len(queues)
        batch: list[Frame] = []
        deadline = 0.0
        stop_deadline: float | None = None
        turn = 0
        while True:
            if self.stop_event.is_set() and stop_deadline is None:
                stop_deadline = time.monotonic() + self.config.runner.shutdown_timeout_s
            took = False
            for k in range(len(queues)):  # one item per queue per round: fair across sources
                item = queues[(turn + k) % len(queues)].get_nowait()
                if item is None:
                    continue
                took = True
                if item is _DONE:
                    running -= 1
                elif isinstance(item, Frame):
                    if stop_deadline is not None and time.monotonic() > stop_deadline:
                        continue  # shutdown took too long: drop what is left
                    if not batch:
                        deadline = time.monotonic() + max_wait
                    batch.append(item)
                    if len(batch) >= max_batch:
                        self._process(batch)
                        batch = []
                else:
                    if batch:  # keep order: frames before a stream marker are processed first
                        self._process(batch)
                        batch = []
                    self._handle_marker(item)
            turn += 1
            idle = running == 0 and not any(len(q) for q in queues)
            if batch and (idle or time.monotonic() >= deadline or (not took and max_wait == 0)):
                self._process(batch)
                batch = []
                continue
            if idle:
                return
            if not took:
                with self._wakeup:
                    self._wakeup.wait(max(0.0, deadline - time.monotonic()) if batch else 0.1)

    # ------------------------------------------------------------------ lifecycle
    @contextlib.contextmanager
    def _signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handle(signum: int, _frame: object) -> None:
            if self.interrupted and signum == signal.SIGINT:
                raise KeyboardInterrupt  # second Ctrl-C: stop waiting (sinks still close)
            self.interrupted = True
            log.warning("%s received: finishing queued frames and closing outputs",
                        signal.Signals(signum).name)
            self.stop_event.set()

        previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def run(self) -> int:
        """Process every source to its end (or until stopped); returns the exit code."""
        start = time.perf_counter()
        with self._signals():
            try:
                for source, config in zip(self.sources, self.config.sources, strict=True):
                    thread = threading.Thread(
                        target=self._read, name=f"reader-{source.id}", daemon=True,
                        args=(source, self.queues[source.id], config.max_frames, config.frame_interval))
                    thread.start()
                    self._threads.append(thread)
                self._loop()
            except KeyboardInterrupt:
                self.interrupted = True
            finally:
                self.stop_event.set()
                self._shutdown()
        self.stats.wall_s = time.perf_counter() - start
        self.stats.dropped_per_source = {sid: q.dropped for sid, q in self.queues.items()}
        if self.interrupted:
            return EXIT_INTERRUPTED
        return EXIT_FAILED if self.stats.failed_sources or self._sink_failed else EXIT_OK

    def _shutdown(self) -> None:
        for thread in self._threads:
            thread.join(timeout=2.0)
        for source_id in sorted(self._open_streams):
            self._end_stream(source_id, None)
        for sink in self.sinks:
            self._call_sink(sink, "close")
            waiting = getattr(sink, "outbox_size", None)
            if waiting is not None:
                self.stats.outbox[sink.name] = int(waiting)
        for stage in self.stages:
            stage.close()
        if self.metrics is not None:
            self.metrics.close()
