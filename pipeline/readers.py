"""One reader thread per source: decodes into the source's bounded queue, framed by stream markers."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from itertools import count
from typing import TYPE_CHECKING

from pipeline.errors import SourceOpenError
from pipeline.frame_queue import FrameQueue
from pipeline.secrets import mask_secrets
from pipeline.source import Source, StreamEnd, StreamStart
from pipeline.types import Frame

if TYPE_CHECKING:
    from pipeline.config import SourceConfig

log = logging.getLogger("argus")

_keys = count(1)


@dataclass(frozen=True, slots=True)
class ReaderDone:
    """The last item a reader puts in its queue: the batcher forgets the queue after it."""

    key: int


def open_source(source: Source, config: SourceConfig) -> None:
    """Open a source before any model loads. A file that cannot open raises SourceOpenError (exit 2);
    a live source with `reconnect` is left to retry in its reader thread (stream_lost/recovered)."""
    try:
        source.open()
    except SourceOpenError as exc:
        if not (source.live and getattr(source, "reconnect", False)):
            raise
        log.warning("%s; retrying in the background", exc)


class SourceReader:
    """A source, its queue and the thread that fills it. `key` is unique for the whole run, so a
    source restarted under the same id (hot reload) never mixes with its previous reader."""

    def __init__(self, source: Source, config: SourceConfig, notify: threading.Event) -> None:
        self.source, self.config = source, config
        self.key = next(_keys)
        self.queue = FrameQueue(config.queue_size, drop_oldest=source.live, notify=notify)
        self.stop_event = threading.Event()
        self.removed = threading.Event()  # set once the batcher has processed ReaderDone
        self._thread: threading.Thread | None = None

    @property
    def id(self) -> str:
        return self.source.id

    def source_uri(self) -> str:
        """The configured URI with any credentials masked."""
        return mask_secrets(self.config.uri)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._read, name=f"reader-{self.id}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Ask the thread to end (it closes its open streams and puts ReaderDone)."""
        self.stop_event.set()

    def join(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _read(self) -> None:
        interval, max_frames = self.config.frame_interval, self.config.max_frames
        open_streams: list[str] = []
        emitted = 0
        try:
            for item in self.source.items(self.stop_event):
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
                if not self.queue.put(item, self.stop_event):
                    break
        except Exception as exc:  # a reader must never die silently: report it as a stream error
            log.debug("reader %s crashed", self.id, exc_info=True)
            error = f"reader failed: {type(exc).__name__}: {exc}"
            for stream_id in open_streams or [self.id]:
                self.queue.put(StreamEnd(stream_id, error), threading.Event())
            open_streams = []
        finally:
            for stream_id in open_streams:  # max_frames reached or stopped: close what is still open
                self.queue.put(StreamEnd(stream_id), threading.Event())
            self.source.close()
            self.queue.put(ReaderDone(self.key), threading.Event())
