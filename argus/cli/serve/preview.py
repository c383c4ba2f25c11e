"""Live preview: annotated JPEG frames per source, encoded only while someone watches.

One packet subscription (lossy, never slowing the pipeline) exists only while at least one viewer
is connected; a thread draws the detections (the video sink's default annotators) and encodes a
JPEG for each *watched* source at most `max_fps` times a second, scaled to at most `max_width`.
Viewers poll `latest(source_id)` for a new sequence number.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import cv2

from stages.annotate import annotate_frame, build_annotators

if TYPE_CHECKING:
    from pipeline.protocol import PipelineAPI
    from pipeline.subscription import Subscription
    from pipeline.types import Packet


@dataclass
class PreviewFrame:
    """The latest encoded frame of one source."""

    seq: int
    jpeg: bytes
    detections: int


class PreviewHub:
    """Encodes previews for watched sources of the current pipeline (see module docstring)."""

    def __init__(self, max_fps: float = 5.0, max_width: int = 640, quality: int = 75) -> None:
        self.max_fps, self.max_width, self.quality = max_fps, max_width, quality
        self.pipeline: PipelineAPI | None = None
        self.watchers: dict[str, int] = {}
        self.frames: dict[str, PreviewFrame] = {}
        self.detections: dict[str, int] = {}  # source id -> detections on its latest seen frame
        self.sizes: dict[str, list[int]] = {}  # source id -> [width, height] of its frames (before scaling)
        self.encoded = 0
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()
        self._subscription: Subscription[Packet] | None = None
        self._thread: threading.Thread | None = None
        self._annotators = build_annotators(True)

    def attach(self, pipeline: PipelineAPI) -> None:
        """Follow this pipeline (a server builds one once its config is valid)."""
        with self._lock:
            self._stop()  # a subscription to a pipeline that ended
            self.pipeline = pipeline
            if self.watchers:
                self._start()

    def watch(self, source_id: str) -> None:
        """A viewer of `source_id` connected: subscribe when it is the first viewer of all."""
        with self._lock:
            self.watchers[source_id] = self.watchers.get(source_id, 0) + 1
            if self._subscription is None and self.pipeline is not None:
                self._start()

    def unwatch(self, source_id: str) -> None:
        """A viewer left: unsubscribe when nobody watches any source."""
        with self._lock:
            count = self.watchers.get(source_id, 0) - 1
            if count > 0:
                self.watchers[source_id] = count
            else:
                self.watchers.pop(source_id, None)
            if not self.watchers:
                self._stop()

    @property
    def active(self) -> bool:
        """True while a subscription to the pipeline exists (someone watches)."""
        return self._subscription is not None

    def latest(self, source_id: str) -> PreviewFrame | None:
        return self.frames.get(source_id)

    def close(self) -> None:
        with self._lock:
            self.watchers.clear()
            self._stop()

    def _start(self) -> None:
        assert self.pipeline is not None
        subscription = self.pipeline.subscribe(maxlen=2)
        self._subscription = subscription
        self._thread = threading.Thread(target=self._run, args=(self.pipeline, subscription),
                                        name="argus-preview", daemon=True)
        self._thread.start()

    def _stop(self) -> None:
        if self._subscription is not None and self.pipeline is not None:
            self.pipeline.unsubscribe(self._subscription)
        self._subscription = None

    def _run(self, pipeline: PipelineAPI, subscription: Subscription[Packet]) -> None:
        for packet in subscription:
            source_id = packet.frame.source_id.split("/")[0]
            self.detections[source_id] = len(packet.detections)
            self.sizes[source_id] = [packet.frame.image.shape[1], packet.frame.image.shape[0]]
            if source_id not in self.watchers:
                continue
            now = time.monotonic()
            if now - self._last.get(source_id, 0.0) < 1.0 / self.max_fps:
                continue
            self._last[source_id] = now
            self._encode(source_id, packet)

    def _encode(self, source_id: str, packet: Packet) -> None:
        image = annotate_frame(packet.frame.image, packet.detections, self._annotators)
        height, width = image.shape[:2]
        if width > self.max_width:
            image = cv2.resize(image, (self.max_width, round(height * self.max_width / width)),
                               interpolation=cv2.INTER_AREA)
        ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if not ok:
            return
        previous = self.frames.get(source_id)
        self.frames[source_id] = PreviewFrame((previous.seq + 1) if previous else 1, jpeg.tobytes(),
                                              len(packet.detections))
        self.encoded += 1

    def stats(self) -> dict[str, Any]:
        """Preview counters for /api/stats."""
        return {"active": self.active, "encoded": self.encoded, "watchers": dict(self.watchers),
                "detections": dict(self.detections), "sizes": dict(self.sizes)}
