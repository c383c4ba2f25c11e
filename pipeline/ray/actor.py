"""The Ray actor: one real Argus `Pipeline` over a group of streams (decoder, models and tracker stay
together); results wait in a buffer until the driver polls them. Only numbers cross the network.

Ray restarts a killed actor by calling `__init__` again: the new incarnation (a fresh id) starts
empty and the driver assigns its streams back with their checkpoints (first frame, next track id,
file segment) and the config in force (a hot reload may have changed it since the actor was made).
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from typing import Any

from pipeline.config import coerce_config
from pipeline.errors import ArgusError
from pipeline.pipeline import Pipeline
from pipeline.ray.resume import resuming_factory
from pipeline.ray.segments import with_segments
from pipeline.ray.wire import FrameResult
from pipeline.readers import open_source
from pipeline.registry import default_registry
from pipeline.source_config import resolve_source
from pipeline.stage import stage_hook
from pipeline.subscription import Subscription

log = logging.getLogger("argus")
MAX_BUFFERED = 4000  # results held for a driver that does not poll; the pipeline waits beyond this


class _Seed:
    """Stands for an 'old' track stage in `take_over`: hands over the checkpointed next track ids."""

    def __init__(self, marks: dict[str, int]) -> None:
        self.marks = marks

    def next_ids(self) -> dict[str, int]:
        return dict(self.marks)


class StreamGroup:
    """A group of streams on one actor (see the module docstring)."""

    def __init__(self, group: int, config: dict[str, Any]) -> None:
        self.group, self.base = group, config
        self.incarnation = uuid.uuid4().hex[:12]
        self.starts: dict[str, int] = {}
        self.segments: dict[str, int] = {}
        base = default_registry()
        self.registry = with_segments(base, lambda sid: self.segments.get(sid, 0))
        self.registry.source_factory = resuming_factory(base.make_source, lambda sid: self.starts.get(sid, 0))
        self.pipeline: Pipeline | None = None
        self._lock = threading.Lock()
        self._cond = threading.Condition()
        self._items: list[tuple[int, str, Any]] = []  # (seq, "frame"|"event", payload)
        self._seq = 0
        self._drains = 0

    # ------------------------------------------------------------------ identity
    def hello(self) -> dict[str, Any]:
        """Who and where this incarnation is, and what it serves."""
        import ray

        context = ray.get_runtime_context()
        return {"incarnation": self.incarnation, "group": self.group, "pid": os.getpid(),
                "node_id": context.get_node_id(), "node_ip": ray.util.get_node_ip_address(),
                "actor_id": context.get_actor_id(), "streams": sorted(self.starts),
                "cpu_s": time.process_time()}

    # ------------------------------------------------------------------ streams
    def assign(self, entries: list[dict[str, Any]], base: dict[str, Any] | None = None) -> dict[str, Any]:
        """Start streams: each entry is {source: SourceConfig dict, start: first frame, next_track_id,
        segment}; `base` is the config in force without sources (used when this call builds the
        pipeline). The first call builds the pipeline (models load here). Returns `hello()`, or
        {error, exit_code} when a source or model cannot open (Argus errors do not all pickle)."""
        try:
            with self._lock:
                if base is not None and self.pipeline is None:
                    self.base = base
            return self._assign(entries)
        except ArgusError as exc:
            for entry in entries:
                self.starts.pop(entry["source"]["id"], None)
            return {"error": str(exc), "exit_code": exc.exit_code}

    def _assign(self, entries: list[dict[str, Any]]) -> dict[str, Any]:
        with self._lock:
            for entry in entries:
                source_id = entry["source"]["id"]
                self.starts[source_id] = int(entry.get("start", 0))
                self.segments[source_id] = int(entry.get("segment", 0))
            marks = {e["source"]["id"]: int(e.get("next_track_id", 1)) for e in entries}
            if self.pipeline is None:
                config = coerce_config({**self.base, "sources": [e["source"] for e in entries]}, self.registry)
                self.pipeline = Pipeline(config, registry=self.registry, keep_alive=True)
                self._seed(marks)
                self._subscribe(self.pipeline)
                self.pipeline.start()
            else:
                self._seed(marks)
                for entry in entries:
                    self.pipeline.add_source(entry["source"])
        return self.hello()

    def apply(self, base: dict[str, Any]) -> dict[str, Any]:
        """Hot reload: the config in force becomes `base` (no sources: this actor's streams stay as
        they are), applied to the running pipeline with `Pipeline.apply`. Returns its report, or
        {error, exit_code} (the pipeline keeps its old config)."""
        with self._lock:
            previous, self.base = self.base, base
            if self.pipeline is None:
                return {"version": 0, "changed": {}}
            sources = [s.model_dump(mode="json") for s in self.pipeline.config.sources]
            try:
                return self.pipeline.apply({**base, "sources": sources})
            except ArgusError as exc:
                self.base = previous
                return {"error": str(exc), "exit_code": exc.exit_code}

    def probe(self, source: dict[str, Any]) -> dict[str, Any]:
        """Open and close a source here, as a stream would: {} or {error, exit_code} (a hot reload
        checks its new sources before it changes anything)."""
        try:
            config = resolve_source(source, self.registry)
            opened = self.registry.make_source(config)
            open_source(opened, config)
            opened.close()
        except ArgusError as exc:
            return {"error": str(exc), "exit_code": exc.exit_code}
        return {}

    def remove(self, source_id: str) -> None:
        """End one stream here (its tracks end, its files close)."""
        with self._lock:
            if self.pipeline is not None and source_id in self.pipeline.readers:
                self.pipeline.remove_source(source_id)
            self.starts.pop(source_id, None)

    def _seed(self, marks: dict[str, int]) -> None:
        """Continue each stream's track ids from its checkpoint (trackers that number tracks)."""
        pipeline = self.pipeline
        assert pipeline is not None

        def seed() -> None:
            for slot in pipeline.worker.chain.slots:
                take_over = stage_hook(slot.stage, "take_over")
                if take_over is not None and stage_hook(slot.stage, "next_ids") is not None:
                    take_over(_Seed(marks))

        pipeline.worker.call(seed).result()

    def _next_ids(self) -> dict[str, int]:
        pipeline = self.pipeline
        if pipeline is None:
            return {}

        def read() -> dict[str, int]:
            marks: dict[str, int] = {}
            for slot in pipeline.worker.chain.slots:
                hook = stage_hook(slot.stage, "next_ids")
                if hook is not None:
                    for source_id, value in hook().items():
                        marks[source_id] = max(marks.get(source_id, 1), int(value))
            return marks

        return pipeline.worker.call(read).result(timeout=30)

    # ------------------------------------------------------------------ results
    def _subscribe(self, pipeline: Pipeline) -> None:
        packets = pipeline.subscribe(maxlen=64, lossless=True)
        events = pipeline.subscribe_events(maxlen=100_000)
        for name, subscription in (("frame", packets), ("event", events)):
            self._drains += 1
            threading.Thread(target=self._drain, args=(name, subscription), daemon=True,
                             name=f"argus-ray-{name}").start()

    def _drain(self, kind: str, subscription: Subscription[Any]) -> None:
        for item in subscription:
            payload = FrameResult.of(item) if kind == "frame" else item
            with self._cond:
                while kind == "frame" and len(self._items) > MAX_BUFFERED:
                    self._cond.wait(0.2)
                self._seq += 1
                self._items.append((self._seq, kind, payload))
                self._cond.notify_all()
        with self._cond:
            self._drains -= 1
            self._cond.notify_all()

    def poll(self, after: int, incarnation: str | None, wait_s: float = 0.2) -> dict[str, Any]:
        """Results numbered after `after` (waiting up to `wait_s` for some), in order; those up to
        `after` are dropped (the driver has them: `after` counts in `incarnation`, and a cursor of an
        earlier incarnation drops nothing). Also the streams' next track ids (the checkpoint)."""
        if incarnation != self.incarnation:
            after = 0
        with self._cond:
            self._items = [item for item in self._items if item[0] > after]
            if not self._items and self._drains:
                self._cond.wait(wait_s)
            items = list(self._items)
            self._cond.notify_all()
            finished = self.pipeline is not None and self._drains == 0
        return {"incarnation": self.incarnation, "seq": items[-1][0] if items else after,
                "items": [(kind, payload) for _, kind, payload in items], "info": self.hello(),
                "streams": sorted(self.starts),
                "next_ids": self._next_ids(), "finished": finished}

    def stats(self) -> dict[str, Any]:
        """The inner pipeline's `stats()` (empty before the first stream)."""
        return self.pipeline.stats() if self.pipeline is not None else {}

    def stop(self, timeout: float = 30.0) -> int | None:
        """Orderly stop of the inner pipeline: open tracks end, files close; results stay to poll."""
        with self._lock:
            if self.pipeline is None:
                return 0
            self.pipeline.stop()
            return self.pipeline.wait(timeout)
