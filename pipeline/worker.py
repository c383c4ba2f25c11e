"""The worker thread: takes work from the batcher, runs the stages, feeds sinks and subscribers.

It is the only thread that touches stages. Sinks and subscribers are fed through the output lane
(`output_lane.py`): on a thread of its own by default (`runner.pipelined`), so batch N is written
while batch N+1 runs through the stages, always in order. Other threads change stages and sinks by
posting a command (`call`), which runs here between two batches with the output lane drained, so a
stage is never swapped mid-batch and a sink is never touched by two threads.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from typing import Any

from pipeline.batcher import Batcher
from pipeline.motion import MotionConfig, MotionGate
from pipeline.output_lane import OutputLane
from pipeline.readers import ReaderDone
from pipeline.sink_set import SinkSet
from pipeline.source import StreamEnd, StreamLost, StreamMarker, StreamRecovered, StreamStart
from pipeline.stage_chain import StageChain
from pipeline.stats import RunStats
from pipeline.subscription import Subscription
from pipeline.types import Event, EventType, Frame, Packet

log = logging.getLogger("argus")


class Worker:
    """Processing state of one running pipeline (see the module docstring)."""

    def __init__(self, batcher: Batcher, chain: StageChain, sinks: SinkSet, stats: RunStats,
                 settings: Callable[[], Any]) -> None:
        self.batcher, self.chain, self.sinks, self.stats = batcher, chain, sinks, stats
        sinks.on_emitted = self._to_subscribers
        self.settings = settings  # () -> the current RunnerConfig
        self.output = OutputLane(depth=2, threaded=getattr(settings(), "pipelined", True))
        self.on_frames: Callable[[int], None] | None = None
        self.on_reader_done: Callable[[ReaderDone], None] | None = None
        self.open_streams: dict[str, StreamStart] = {}
        self.last_frames: dict[str, Frame] = {}  # stream id -> its latest frame (warms up rebuilt stages)
        self.motion_for: Callable[[str], MotionConfig | None] = lambda source_id: None  # a source's gating
        self.gates: dict[str, MotionGate] = {}  # stream id -> its motion gate, where gating is on
        self.packet_subscribers: list[Subscription[Packet]] = []
        self.event_subscribers: list[Subscription[Event]] = []
        self.stopping = threading.Event()  # stop requested: readers are ending
        self.abandon = threading.Event()  # drop every queued frame now (second Ctrl-C)
        self.interrupted = False
        self.keep_alive = False
        self._holds = 0  # hot reloads in progress: do not end while a source is being replaced
        self.fatal: str | None = None
        self._stop_deadline: float | None = None
        self._commands: queue.SimpleQueue[tuple[Callable[[], Any], Future]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._command_lock = threading.Lock()
        self.on_fatal: Callable[[], None] | None = None
        self.thread: threading.Thread | None = None
        self.finished = threading.Event()

    # ------------------------------------------------------------------ commands
    def call(self, fn: Callable[[], Any]) -> Future:
        """Run `fn` on the worker thread between two batches; the future holds its result."""
        future: Future = Future()
        with self._command_lock:
            if self.thread is not None and not self.finished.is_set():
                self._commands.put((fn, future))
                self.batcher.notify.set()
                return future
        try:  # not running: nothing can race with the caller
            future.set_result(fn())
        except BaseException as exc:
            future.set_exception(exc)
        return future

    def _run_commands(self) -> None:
        if self._commands.empty():
            return
        with self.output.hold():  # sinks are idle while a command may swap or reconfigure them
            while True:
                try:
                    fn, future = self._commands.get_nowait()
                except queue.Empty:
                    return
                try:
                    future.set_result(fn())
                except BaseException as exc:
                    future.set_exception(exc)

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """The run does not end inside this block, even when every source has ended (a hot reload
        replaces a source: the old one ends before the new one starts)."""
        with self._lock:
            self._holds += 1
        try:
            yield
        finally:
            with self._lock:
                self._holds -= 1
            self.batcher.notify.set()  # the loop looks again at whether it may end

    # ------------------------------------------------------------------ loop
    def request_stop(self) -> None:
        if not self.stopping.is_set():
            self._stop_deadline = time.monotonic() + self.settings().shutdown_timeout_s
            self.stopping.set()
        self.batcher.notify.set()

    def _keep_going(self) -> bool:
        return self._holds > 0 or (self.keep_alive and not self.stopping.is_set())

    def run(self) -> None:
        self.output.start()
        try:
            settings = self.settings
            for work in self.batcher.work(lambda: settings().max_batch, lambda: settings().max_wait_ms / 1000.0,
                                          self._keep_going):
                self._run_commands()
                if work is None:
                    continue
                if isinstance(work, list):
                    self._process(work)
                elif isinstance(work, ReaderDone):
                    if self.on_reader_done is not None:
                        self.on_reader_done(work)
                else:
                    self.handle_marker(work)
        finally:
            self.shutdown()

    def _process(self, frames: list[Frame]) -> None:
        if self.abandon.is_set() or (self._stop_deadline is not None and time.monotonic() > self._stop_deadline):
            self.stats.dropped_on_stop += len(frames)  # shutdown took too long: drop what is left
            return
        packets = [Packet(frame) for frame in frames]
        for packet in packets:
            gate = self.gates.get(packet.frame.source_id)
            if gate is not None:
                packet.still = not gate.moving(packet.frame.image, packet.frame.pts_s)
        packets = self.chain.process(packets)
        for packet in packets:
            self.last_frames[packet.frame.source_id] = packet.frame
        self.output.submit(lambda: self._deliver(packets))
        limit = self.settings().max_stage_errors
        if self.chain.max_consecutive >= limit and self.fatal is None:
            worst = max(self.chain.slots, key=lambda s: s.consecutive)
            self.fatal = f"stage '{worst.id}' failed on {worst.consecutive} consecutive batches: {worst.last_error}"
            log.error("%s; stopping (runner.max_stage_errors = %d)", self.fatal, limit)
            self.request_stop()
            if self.on_fatal is not None:
                self.on_fatal()

    def _deliver(self, packets: list[Packet]) -> None:
        """Sinks, events and subscribers of one processed batch (on the output lane)."""
        start = time.perf_counter()
        for packet in packets:
            self.sinks.write(packet)
            self._emit_now(packet.events)
            self.stats.count_frame(packet.frame.source_id)
        if self.sinks.slots:
            self.stats.timing("sinks").add(time.perf_counter() - start, len(packets))
        self.stats.frames += len(packets)
        with self._lock:
            subscribers = list(self.packet_subscribers)
        for subscription in subscribers:
            for packet in packets:
                subscription.put(packet, self.abandon)
        if self.on_frames is not None:
            self.on_frames(len(packets))

    # ------------------------------------------------------------------ markers and events
    def emit(self, events: list[Event]) -> None:
        """Events to every sink and event subscriber, in order with the frames (via the output lane)."""
        if events:
            self.output.submit(lambda: self._emit_now(events))

    def _emit_now(self, events: list[Event]) -> None:
        if not events:
            return
        self.sinks.events(events)
        self._to_subscribers(events)

    def _to_subscribers(self, events: Sequence[Event]) -> None:
        """Events to the event subscribers (also those sinks make: `SinkSet.on_emitted`)."""
        with self._lock:
            subscribers = list(self.event_subscribers)
        for subscription in subscribers:
            for event in events:
                subscription.put(event)

    def handle_marker(self, item: StreamMarker) -> None:
        source_id = item.source_id
        if isinstance(item, StreamLost):
            # Continuity is gone: stages drop the stream's state (tracks end); outputs stay open.
            log.warning("source '%s': stream lost (%s); reconnecting", source_id, item.reason)
            self.stats.stream_state[source_id] = "reconnecting"
            self.stats.reconnects[source_id] = self.stats.reconnects.get(source_id, 0) + 1
            if source_id in self.gates:
                self.gates[source_id].reset()
            self.emit([*self.chain.end_source(source_id),
                       Event(EventType.STREAM_LOST, source_id, payload={"reason": item.reason})])
        elif isinstance(item, StreamRecovered):
            log.info("source '%s': stream recovered after %.1f s", source_id, item.gap_s)
            self.stats.stream_state[source_id] = "running"
            self.emit([Event(EventType.STREAM_RECOVERED, source_id,
                             payload={"gap_s": item.gap_s, "attempts": item.attempts})])
        elif isinstance(item, StreamStart):
            self.open_streams[source_id] = item
            motion = self.motion_for(source_id)
            if motion is not None:
                self.gates[source_id] = MotionGate(motion)
            else:
                self.gates.pop(source_id, None)
            self.stats.stream_state[source_id] = "running"
            self.output.submit(lambda: self.sinks.start_source(item))
            self.emit([Event(EventType.STREAM_OPENED, source_id, payload={
                "uri": item.uri, "width": item.width, "height": item.height, "fps": round(item.fps, 3),
                "frames": item.frames})])
        elif isinstance(item, StreamEnd):
            self.end_stream(source_id, item.error)

    def end_stream(self, source_id: str, error: str | None) -> None:
        self.open_streams.pop(source_id, None)
        self.last_frames.pop(source_id, None)
        self.gates.pop(source_id, None)
        events = self.chain.end_source(source_id)
        if error:
            self.stats.failed_sources[source_id] = error
            self.stats.stream_state[source_id] = "failed"
            log.error("source '%s': %s", source_id, error)
            events.append(Event(EventType.STREAM_ERROR, source_id, payload={"error": error}))
            self.emit(events)
        else:
            self.stats.stream_state[source_id] = "ended"
            extra = {"reason": "interrupted"} if self.interrupted else {}

            def ended() -> None:  # on the lane: the frame count includes every frame written before
                self._emit_now([*events, Event(EventType.STREAM_ENDED, source_id, payload={
                    "frames": self.stats.frames_per_source.get(source_id, 0), **extra})])
            self.output.submit(ended)
        self.output.submit(lambda: self.sinks.end_source(source_id))

    # ------------------------------------------------------------------ shutdown
    def shutdown(self) -> None:
        """End open streams, close sinks and stages, end subscriptions (once the loop is over)."""
        try:
            self.output.stop()  # what is queued is written; from here on everything runs inline
            self._run_commands()
            for source_id in sorted(self.open_streams):
                self.end_stream(source_id, None)
            self.sinks.close_all()
            for slot in self.chain.slots:
                slot.close()
        finally:
            with self._lock:
                for subscription in [*self.packet_subscribers, *self.event_subscribers]:
                    subscription.close()
            with self._command_lock:
                self.finished.set()
            self._run_commands()  # anything posted during shutdown runs (nothing races any more)
