"""`RayPipeline`: the Pipeline protocol (`pipeline.protocol.PipelineAPI`) over Ray actors. The driver
places streams on actors, merges their results into the configured (non per-source) sinks, applies
hot reloads (pipeline/ray/reload.py), and moves or resumes streams on faults.

    driver loop: poll every actor (long poll) -> dedupe -> driver sinks + subscribers
                 actor silent/restarted -> track_ended + stream_lost -> reassign with checkpoint

An actor is lost when Ray reports it dead, or when a poll goes unanswered for longer than its lost
limit: `runner.ray.lost_after_polls` of its slowest recent poll round trips, at least
`runner.ray.lost_after_min_s` (`Group.lost_limit`), so a loaded machine's slower polls do not
count as faults. A lost actor that answers again (it had hung) is restarted: its streams resume
from their checkpoints like after any other fault.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pipeline.config import PipelineConfig, SourceConfig, coerce_config
from pipeline.errors import ArgusError, ConfigError
from pipeline.pipeline import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, _source_config
from pipeline.ray.actor import StreamGroup
from pipeline.ray.cluster import connect, require_ray
from pipeline.ray.merge import Merger
from pipeline.ray.reload import actor_base
from pipeline.ray.split import driver_sinks
from pipeline.ray.state import POLL_WAIT_S, Group, Stream
from pipeline.registry import Registry, default_registry
from pipeline.sink_set import SinkSet, SinkSlot
from pipeline.source import StreamStart
from pipeline.stats import RunStats
from pipeline.subscription import Subscription
from pipeline.types import Event, EventType, Packet

log = logging.getLogger("argus")
CALL_TIMEOUT_S = 120.0  # assign, apply, probe: a model may load
_ACTOR_ONLY = (EventType.SOURCE_ADDED, EventType.SOURCE_REMOVED)  # the driver emits its own


class RayPipeline:
    """One config over Ray actors; the Pipeline protocol's calls (start/stop/wait/run, add_source,
    remove_source, apply, stats, subscribe, subscribe_events, packets).

    Args:
        config: the validated pipeline.
        address: 'local' (a private Ray on this machine), 'auto' or HOST:PORT of a running cluster.
        keep_alive: keep running when every source has ended (serve).
    """

    def __init__(self, config: PipelineConfig, address: str = "local", *, registry: Registry | None = None,
                 keep_alive: bool = False) -> None:
        self.ray = require_ray()
        self.registry = registry or default_registry()
        self.config, self.address, self.keep_alive = config, address, keep_alive
        self.settings = config.runner.ray
        self.run_stats = RunStats()
        self.version = 1
        self.metrics = None
        self.interrupted = False
        self.streams: dict[str, Stream] = {}
        self.groups: list[Group] = []
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self.finished = threading.Event()
        self._apply_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._started = False
        self._start_time = 0.0
        self._owns_ray = False
        self._gpus_left: float | None = None  # GPUs not yet reserved by this run's actors
        self._base = actor_base(config)
        output = Path(config.output_dir)
        output.mkdir(parents=True, exist_ok=True)
        slots = [SinkSlot(s.id, self.registry.build_sink(s, output), s.type) for s in driver_sinks(config)]
        self.sinks = SinkSet(slots, self.run_stats, self.registry.event_types)
        self.merger = Merger(self.sinks, self.run_stats, self._stopping)

    @property
    def ended(self) -> bool:
        """True once the run is over: every stream ended and every output closed."""
        return self.finished.is_set()

    @property
    def on_frames(self) -> Callable[[int], None] | None:
        return self.merger.on_frames

    @on_frames.setter
    def on_frames(self, callback: Callable[[int], None] | None) -> None:
        """Called with the number of frames merged at each poll (progress bars)."""
        self.merger.on_frames = callback

    @property
    def packet_subscribers(self) -> list[Subscription[Packet]]:
        return self.merger.packet_subscribers

    @property
    def event_subscribers(self) -> list[Subscription[Event]]:
        return self.merger.event_subscribers

    @classmethod
    def from_yaml(cls, path: str | Path | None, overrides: list[str] | None = None, **kwargs: Any) -> RayPipeline:
        from pipeline.config import load_config

        return cls(load_config(Path(path) if path else None, overrides, registry=kwargs.get("registry")), **kwargs)

    @classmethod
    def from_config(cls, value: PipelineConfig | dict[str, Any] | str, **kwargs: Any) -> RayPipeline:
        return cls(coerce_config(value, kwargs.get("registry")), **kwargs)

    def total_frames(self) -> int | None:
        limits = [s.max_frames for s in self.config.sources]
        return None if any(v is None for v in limits) else sum(v for v in limits if v is not None)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> RayPipeline:
        """Connect to Ray, create the actors, start every stream (waits for the models to load)."""
        if self._started:
            raise ArgusError("pipeline already started")
        self._started = True
        self._start_time = time.perf_counter()
        self._owns_ray = connect(self.address)
        sources = self.config.sources
        count = max(1, math.ceil(len(sources) / self.settings.streams_per_actor))
        for i in range(count):
            self.groups.append(self._new_group(i))
        for i, source in enumerate(sources):
            group = self.groups[i % count]
            self.streams[source.id] = Stream(source, group.index)
            group.streams.add(source.id)
        refs = [(g, g.handle.assign.remote([self.streams[s].entry() for s in sorted(g.streams)], self._base))
                for g in self.groups]
        try:
            for group, ref in refs:
                self._hello(group, self._assigned(self._get(ref, None)))
        except BaseException:
            self._release()
            self.merger.close()
            self.finished.set()
            raise
        self._thread = threading.Thread(target=self._loop, name="argus-ray-driver", daemon=True)
        self._thread.start()
        return self

    def _new_group(self, index: int) -> Group:
        """A new actor: a GPU actor while the cluster has GPUs left for one, else a CPU actor."""
        s = self.settings
        gpus = s.num_gpus_per_actor
        if gpus:
            if self._gpus_left is None:
                self._gpus_left = float(self.ray.cluster_resources().get("GPU", 0.0))
            if self._gpus_left + 1e-9 < gpus:
                log.warning("ray: no GPU left for actor %d (num_gpus_per_actor %g): it runs on CPUs", index, gpus)
                gpus = 0.0
            self._gpus_left -= gpus
        options: dict[str, Any] = {"num_cpus": s.num_cpus_per_actor, "num_gpus": gpus,
                                   "max_restarts": s.max_restarts, "max_task_retries": 0, "max_concurrency": 4}
        if s.spread:
            options["scheduling_strategy"] = "SPREAD"
        handle = self.ray.remote(StreamGroup).options(**options).remote(index, self._base)
        return Group(index, handle)

    def _get(self, ref: Any, timeout: float | None) -> Any:
        """ray.get, with an actor's own ArgusError (a bad source, a missing model) re-raised as is."""
        try:
            return self.ray.get(ref, timeout=timeout)
        except self.ray.exceptions.RayTaskError as exc:
            cause = getattr(exc, "cause", None)
            if isinstance(cause, ArgusError):
                raise cause from None
            raise ArgusError(f"ray actor failed: {str(exc).splitlines()[0]}") from None

    @staticmethod
    def _assigned(info: dict[str, Any]) -> dict[str, Any]:
        """An actor's answer to `assign`; its one-line error (a source or model that cannot open) raised."""
        if "error" in info:
            error = ArgusError(info["error"])
            error.exit_code = info.get("exit_code", 1)
            raise error
        return info

    def _release(self) -> None:
        """Kill this run's actors; stop Ray when this run started it."""
        for group in self.groups:
            try:
                self.ray.kill(group.handle)
            except Exception as exc:  # already dead
                log.debug("ray: kill actor %d: %s", group.index, exc)
        if self._owns_ray:
            self.ray.shutdown()

    def _hello(self, group: Group, info: dict[str, Any]) -> None:
        group.info, group.incarnation = info, info["incarnation"]

    def stop(self) -> None:
        """Orderly stop: every actor ends its streams (tracks ended, files closed), results are merged."""
        self._stopping.set()
        if not self._started:
            self._started = True
            self.merger.close()
            self.finished.set()

    def wait(self, timeout: float | None = None) -> int | None:
        if not self.finished.wait(timeout):
            return None
        self.run_stats.wall_s = time.perf_counter() - self._start_time
        return self.exit_code()

    def exit_code(self) -> int:
        if self.interrupted:
            return EXIT_INTERRUPTED
        stats = self.run_stats
        return EXIT_FAILED if stats.failed_sources or stats.failed_sinks or stats.sink_errors else EXIT_OK

    def run(self) -> int:
        """Start, then wait for the end (Ctrl-C stops in order); the exit code."""
        self.start()
        try:
            code = None
            while code is None:
                code = self.wait(0.2)
        except KeyboardInterrupt:
            self.interrupted = True
            self.stop()
            code = self.wait()
        return code if code is not None else EXIT_FAILED

    # ------------------------------------------------------------------ the driver loop
    def _loop(self) -> None:
        deadline: float | None = None
        try:
            while True:
                now = time.monotonic()
                if self._stopping.is_set() and deadline is None:
                    deadline = now + self.config.runner.shutdown_timeout_s + 10.0
                    for group in self.groups:
                        group.stop_ref = group.handle.stop.remote(self.config.runner.shutdown_timeout_s)
                if deadline is not None and (now > deadline or all(g.finished or not g.live for g in self.groups)):
                    return
                self._send_polls(now)
                pending = [g.inflight for g in self.groups if g.inflight is not None]
                ready = self.ray.wait(pending, num_returns=1, timeout=POLL_WAIT_S)[0] if pending else []
                if ready and len(pending) > 1:  # every other answer already in, in one call
                    rest = [r for r in pending if r not in ready]
                    ready += self.ray.wait(rest, num_returns=len(rest), timeout=0)[0]
                if not pending:
                    time.sleep(POLL_WAIT_S)
                answered = set(ready)
                for group in self.groups:
                    if group.inflight is not None and group.inflight in answered:
                        self._answer(group)
                self._watch(time.monotonic())
                if not self.keep_alive and self.streams and all(
                        s.state in ("ended", "failed", "removed") for s in self.streams.values()):
                    self._stopping.set()
        except Exception:
            log.exception("ray driver loop failed")
            self.run_stats.failed_sinks["ray-driver"] = "driver loop failed"
        finally:
            self._shutdown()

    def _send_polls(self, now: float) -> None:
        for group in self.groups:
            if group.inflight is None and now >= group.retry_at and not group.finished:
                group.inflight = group.handle.poll.remote(group.cursor, group.incarnation, POLL_WAIT_S)
                group.sent_at = now

    def _answer(self, group: Group) -> None:
        ref, group.inflight = group.inflight, None
        try:
            result = self.ray.get(ref)
        except (self.ray.exceptions.RayActorError, self.ray.exceptions.RayTaskError) as exc:
            group.retry_at = time.monotonic() + 0.5
            self._lose(group, f"actor unavailable: {type(exc).__name__}")
            return
        group.answered(time.monotonic())
        if group.lost_at is not None and result["incarnation"] == group.incarnation:
            self._restart(group)  # it hung, and its streams were ended as lost: they resume anew
            return
        try:
            with self._lock:
                self._merge(group, result)
        except self.ray.exceptions.RayError as exc:  # the actor died while we assigned to it
            group.retry_at = time.monotonic() + 0.5
            self._lose(group, f"actor unavailable: {type(exc).__name__}")

    def _watch(self, now: float) -> None:
        """Silent actors count as lost; streams of an actor lost for `move_after_s` move elsewhere."""
        for group in self.groups:
            if group.assigning:
                done, group.assigning = self.ray.wait(group.assigning, num_returns=len(group.assigning), timeout=0)
                for ref in done:
                    try:
                        self._assigned(self.ray.get(ref))
                    except Exception as exc:  # the actor died meanwhile (handled by polling) or a bad source
                        log.warning("ray: assigning streams to actor %d failed: %s", group.index,
                                    str(exc).splitlines()[0])
            limit = group.lost_limit(self.settings, POLL_WAIT_S)
            if group.inflight is not None and now - group.sent_at > limit:
                self._lose(group, f"no answer for {limit:.1f} s (its polls take "
                                  f"{group.typical_round_trip(POLL_WAIT_S):.2f} s)")
                if now - group.sent_at > max(30.0, 2 * limit):
                    group.inflight = None  # give up on that call; poll again
            if group.lost_at is not None and group.streams and now - group.lost_at > self.settings.move_after_s \
                    and not self._stopping.is_set():
                self._move(group)

    def _lose(self, group: Group, reason: str) -> None:
        with self._lock:
            if group.lost_at is not None:
                return
            group.lost_at = time.monotonic()
            group.held.clear()  # ends sent while dying: the streams are lost, not ended
            log.warning("ray: actor %d (%s) lost: %s", group.index, group.where()["node"], reason)
            for source_id in sorted(group.streams):
                stream = self.streams[source_id]
                if stream.state in ("starting", "running"):
                    self.merger.emit(stream.lose(reason, group.where()))
                    self.run_stats.stream_state[source_id] = "reconnecting"
                    self.run_stats.reconnects[source_id] = self.run_stats.reconnects.get(source_id, 0) + 1

    def _restart(self, group: Group) -> None:
        """An actor counted as lost answered again: Ray restarts it (a new incarnation, resumed with
        its streams' checkpoints by `_merge`), so nothing it did while counted lost is merged."""
        log.warning("ray: actor %d answered again after it was counted lost: restarting it", group.index)
        group.retry_at = time.monotonic() + 0.5
        try:
            self.ray.kill(group.handle, no_restart=False)
        except Exception as exc:  # already dead: Ray restarts it (or reports it) anyway
            log.debug("ray: restart actor %d: %s", group.index, exc)

    def _move(self, group: Group) -> None:
        with self._lock:
            targets = [g for g in self.groups if g.live and g is not group]
            if not targets:
                return
            for source_id in sorted(group.streams):
                target = min(targets, key=lambda g: len(g.streams))
                log.warning("ray: moving stream '%s' from actor %d to actor %d", source_id, group.index, target.index)
                self.streams[source_id].group = target.index
                target.streams.add(source_id)
                target.assigning.append(target.handle.assign.remote([self.streams[source_id].entry()], self._base))
            group.streams.clear()

    # ------------------------------------------------------------------ merging results
    def _merge(self, group: Group, result: dict[str, Any]) -> None:
        group.info = result["info"]
        if result["incarnation"] != group.incarnation:
            restarted = group.incarnation is not None  # None: a new actor answering before its first assign
            if restarted:
                self._lose(group, "actor restarted")
            group.incarnation, group.cursor = result["incarnation"], 0
            if restarted and group.streams and not self._stopping.is_set():
                log.info("ray: actor %d restarted on %s; resuming %s", group.index, group.where()["node"],
                         ", ".join(sorted(group.streams)))
                group.assigning.append(group.handle.assign.remote(
                    [self.streams[s].entry() for s in sorted(group.streams)], self._base))
        group.lost_at = None
        held, group.held = group.held, []  # ends from earlier answers: the actor is still alive
        group.cursor = result["seq"]
        group.finished = group.stop_ref is not None and result["finished"]
        for source_id in result["streams"]:
            if source_id not in group.streams and not group.finished:
                group.handle.remove.remote(source_id)  # moved away while this actor was silent
        for source_id, value in result["next_ids"].items():
            stream = self.streams.get(source_id)
            if stream is not None and stream.group == group.index:
                stream.next_track_id = max(stream.next_track_id, value)
        frames = 0
        for kind, payload in result["items"]:
            stream = self.streams.get(payload.source_id)
            if stream is None or stream.group != group.index:
                continue  # a stream this actor no longer owns
            if kind == "event":
                self._event(stream, payload, group)
            elif self.merger.frame(stream, payload):
                frames += 1
        if group.finished:  # its last answer: every frame is in
            held, group.held = held + group.held, []
        for event in held:  # after this answer's frames (an actor's frames and events race to it)
            self._end(self.streams[event.source_id], event)
        if frames and self.merger.on_frames is not None:
            self.merger.on_frames(frames)

    def _event(self, stream: Stream, event: Event, group: Group) -> None:
        if event.type in _ACTOR_ONLY or self.merger.seen(event):
            return
        if event.type == EventType.STREAM_OPENED:
            self.merger.opened(stream, event, group.where())
        elif event.type in (EventType.STREAM_ENDED, EventType.STREAM_ERROR):
            group.held.append(event)  # merged once the actor answers again: a dying actor ends its streams too
        else:
            self.merger.track(stream, event)

    def _end(self, stream: Stream, event: Event) -> None:
        if stream.state not in ("ended", "failed"):
            self.merger.end(stream, event)
            self.groups[stream.group].streams.discard(stream.config.id)  # no longer counts in its load

    def emit(self, events: list[Event]) -> None:
        """Send driver-level events to every sink and event subscriber."""
        self.merger.emit(events)

    # ------------------------------------------------------------------ shutdown
    def _shutdown(self) -> None:
        try:
            with self._lock:
                for group in self.groups:
                    held, group.held = group.held, []
                    for event in held:
                        self._end(self.streams[event.source_id], event)
                for stream in self.streams.values():
                    if stream.state in ("lost", "starting", "running", "removing"):
                        ended = Event(EventType.STREAM_ENDED, stream.config.id, payload={"reason": "stopped"})
                        self.merger.emit([*stream.lose("stopped", {})[:-1], ended])
                        stream.state = "ended"
            self._release()
        finally:
            self.merger.close()
            self.finished.set()

    # ------------------------------------------------------------------ sources
    def add_source(self, source: SourceConfig | dict[str, Any]) -> None:
        """Start a new source on the least-loaded live actor (a new actor when all are full)."""
        config = _source_config(source)
        with self._lock:
            if self.finished.is_set() or self._stopping.is_set():
                raise ArgusError(f"source '{config.id}': the pipeline has already ended")
            old = self.streams.get(config.id)
            if old is not None and old.state not in ("ended", "failed", "removed"):
                raise ConfigError([f"sources: id '{config.id}' is already running"])
            live = [g for g in self.groups if g.live]
            group = min(live, key=lambda g: len(g.streams)) if live else None
            if group is None or len(group.streams) >= self.settings.streams_per_actor:
                group = self._new_group(len(self.groups))
                self.groups.append(group)
            stream = Stream(config, group.index)
            if old is not None:  # a source id that ran before: its ids and files go on
                stream.next_track_id, stream.segment = old.next_track_id, old.segment + 1
            self.streams[config.id] = stream
            group.streams.add(config.id)
            ref = group.handle.assign.remote([stream.entry()], self._base)
            previous = self.config
            self.config = self.config.model_copy(update={
                "sources": [*[s for s in self.config.sources if s.id != config.id], config]})
        try:
            info = self._assigned(self._get(ref, CALL_TIMEOUT_S))
        except ArgusError:
            with self._lock:
                group.streams.discard(config.id)
                self.streams.pop(config.id, None)
                if old is not None:
                    self.streams[config.id] = old
                self.config = previous
            raise
        if group.incarnation is None:
            self._hello(group, info)
        self.merger.emit([Event(EventType.SOURCE_ADDED, config.id, payload={"uri": config.uri, **group.where()})])

    def remove_source(self, source_id: str, timeout: float | None = None) -> None:
        """End a source on its actor (tracks ended, files closed), then `source_removed`."""
        with self._lock:
            stream = self.streams.get(source_id)
            if stream is None or stream.state in ("ended", "failed", "removed", "removing"):
                raise ConfigError([f"sources: no running source with id '{source_id}'"])
            group = self.groups[stream.group]
            stream.state = "removing"
        self._get(group.handle.remove.remote(source_id), timeout or 60.0)
        limit = time.monotonic() + (timeout or 60.0)  # its stream_ended is merged at the next polls
        while stream.state not in ("ended", "failed") and group.live and time.monotonic() < limit:
            time.sleep(0.05)
        with self._lock:
            stream.state = "removed"
            group.streams.discard(source_id)
            self.config = self.config.model_copy(update={
                "sources": [s for s in self.config.sources if s.id != source_id]})
        self.merger.emit([Event(EventType.SOURCE_REMOVED, source_id)])

    def apply(self, new_config: PipelineConfig | dict[str, Any] | str) -> dict[str, Any]:
        """Hot reload over the actors (pipeline/ray/reload.py): sources, stages, sinks and runner
        settings, touching only what changed. Returns `{"version": N, "changed": {...}}` like
        `Pipeline.apply`; ConfigError (nothing changed), ReloadError (the old config keeps running)."""
        from pipeline.ray.reload import apply_config

        if self.ended or self._stopping.is_set():
            raise ArgusError("apply: the pipeline has already ended")
        with self._apply_lock:
            return apply_config(self, new_config)

    # ------------------------------------------------------------------ for the hot reload
    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the driver loop between two answers (it merges nothing meanwhile)."""
        with self._lock:
            yield

    def live_groups(self) -> list[Group]:
        """The actors answering now."""
        with self._lock:
            return [g for g in self.groups if g.live]

    def call(self, ref: Any) -> Any:
        """The result of a remote call to an actor (an actor's own ArgusError re-raised as is)."""
        return self._get(ref, CALL_TIMEOUT_S)

    def set_actor_base(self, base: dict[str, Any]) -> None:
        """The config (without sources) that new and restarted actors get from now on."""
        with self._lock:
            self._base = base

    def open_stream_starts(self) -> list[StreamStart]:
        """Each open stream as the driver's sinks saw it start (new sinks are told the same)."""
        with self._lock:
            return [s.start for s in self.streams.values()
                    if s.start is not None and s.state not in ("ended", "failed", "removed")]

    # ------------------------------------------------------------------ observing
    def subscribe(self, maxlen: int = 8, lossless: bool = False) -> Subscription[Packet]:
        """Merged packets (the image is a stand-in: pixels stay on the actors)."""
        subscription: Subscription[Packet] = Subscription(maxlen, lossless)
        self.packet_subscribers.append(subscription)
        return subscription

    def subscribe_events(self, maxlen: int = 1000) -> Subscription[Event]:
        subscription: Subscription[Event] = Subscription(maxlen)
        self.event_subscribers.append(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription[Any]) -> None:
        for group in (self.packet_subscribers, self.event_subscribers):
            if subscription in group:
                group.remove(subscription)
        subscription.close()

    def packets(self, maxlen: int = 8) -> Iterator[Packet]:
        subscription = self.subscribe(maxlen, lossless=True)
        if not self._started:
            self.start()
        try:
            yield from subscription
        finally:
            self.unsubscribe(subscription)
            self.stop()
            self.wait()

    def stats(self) -> dict[str, Any]:
        """Like `Pipeline.stats()`, plus which actor and node serves each stream."""
        from pipeline.ray.snapshot import snapshot

        return snapshot(self)
