"""Watched feeds: the pipeline's processed packets, consumed only while someone watches a source.

`WatchedFeed` holds one lossy packet subscription (never slowing the pipeline) while at least one
viewer is connected, and hands each watched source's packets, at most `max_fps` a second, to
`_frame` on its own thread. Viewers either hold a connection (`watch`/`unwatch`) or renew a lease
(`touch`, for clients that poll, like HLS players). The MJPEG preview and the live view build on it.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipeline.protocol import PipelineAPI
    from pipeline.subscription import Subscription
    from pipeline.types import Packet


class WatchedFeed:
    """Subscribes while watched; subclasses implement `_frame` (and may override `_seen`, `_ended`)."""

    thread_name = "argus-feed"

    def __init__(self, max_fps: float) -> None:
        self.max_fps = max_fps
        self.pipeline: PipelineAPI | None = None
        self.watchers: dict[str, int] = {}
        self.leases: dict[str, float] = {}  # source id -> monotonic time its polling viewer's lease ends
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()
        self._subscription: Subscription[Packet] | None = None
        self._thread: threading.Thread | None = None

    def attach(self, pipeline: PipelineAPI) -> None:
        """Follow this pipeline (a server builds one once its config is valid)."""
        with self._lock:
            self._stop()  # a subscription to a pipeline that ended
            self.pipeline = pipeline
            if self._wanted():
                self._start()

    def watch(self, source_id: str) -> None:
        """A viewer of `source_id` connected: subscribe when it is the first viewer of all."""
        with self._lock:
            self.watchers[source_id] = self.watchers.get(source_id, 0) + 1
            self._ensure()

    def unwatch(self, source_id: str) -> None:
        """A viewer left: unsubscribe when nobody watches any source."""
        with self._lock:
            count = self.watchers.get(source_id, 0) - 1
            if count > 0:
                self.watchers[source_id] = count
            else:
                self.watchers.pop(source_id, None)
            if not self._wanted():
                self._stop()

    def touch(self, source_id: str, lease_s: float) -> None:
        """A polling viewer of `source_id` asked again: watched for `lease_s` more seconds."""
        with self._lock:
            self.leases[source_id] = time.monotonic() + lease_s
            self._ensure()

    def watched(self, source_id: str) -> bool:
        return source_id in self.watchers or self.leases.get(source_id, 0.0) > time.monotonic()

    @property
    def active(self) -> bool:
        """True while a subscription to the pipeline exists (someone watches)."""
        return self._subscription is not None

    def close(self) -> None:
        with self._lock:
            self.watchers.clear()
            self.leases.clear()
            self._stop()

    def _wanted(self) -> bool:
        now = time.monotonic()
        for source_id in [s for s, end in self.leases.items() if end <= now]:
            del self.leases[source_id]
        return bool(self.watchers or self.leases)

    def _ensure(self) -> None:
        if self._subscription is None and self.pipeline is not None:
            self._start()

    def _start(self) -> None:
        assert self.pipeline is not None
        subscription = self.pipeline.subscribe(maxlen=2)
        self._subscription = subscription
        self._thread = threading.Thread(target=self._run, args=(subscription,), name=self.thread_name, daemon=True)
        self._thread.start()

    def _stop(self) -> None:
        if self._subscription is not None and self.pipeline is not None:
            self.pipeline.unsubscribe(self._subscription)
        self._subscription = None

    def _run(self, subscription: Subscription[Packet]) -> None:
        try:
            for packet in subscription:
                source_id = packet.frame.source_id.split("/")[0]
                self._seen(source_id, packet)
                if not self.watched(source_id):
                    if self.leases and not self.watchers:  # the last lease ran out: unsubscribe
                        with self._lock:
                            if self._subscription is subscription and not self._wanted():
                                self._stop()
                    continue
                now = time.monotonic()
                if now - self._last.get(source_id, 0.0) < 0.9 / self.max_fps:  # 10 % slack for jitter
                    continue
                self._last[source_id] = now
                self._frame(source_id, packet)
        finally:
            self._ended()

    def _seen(self, source_id: str, packet: Packet) -> None:
        """Every packet of every source, watched or not (cheap bookkeeping only)."""

    def _frame(self, source_id: str, packet: Packet) -> None:
        """A watched source's packet, at most `max_fps` a second."""
        raise NotImplementedError

    def _ended(self) -> None:
        """The subscription of this thread ended (nobody watches, or the pipeline ended)."""
