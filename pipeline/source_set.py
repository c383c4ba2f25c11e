"""The running sources of a pipeline by id: open, start, end one while the others run."""

from __future__ import annotations

import logging
from collections.abc import Callable

from pipeline.batcher import Batcher
from pipeline.config import SourceConfig
from pipeline.readers import ReaderDone, SourceReader, open_source
from pipeline.registry import Registry
from pipeline.stats import RunStats

log = logging.getLogger("argus")


class SourceSet:
    """Source readers by id. Changed from the API thread (under the pipeline's lock); the worker
    thread only reports a reader's end (`reader_done`)."""

    def __init__(self, registry: Registry, batcher: Batcher, stats: RunStats,
                 worker_running: Callable[[], bool]) -> None:
        self.registry, self.batcher, self.stats = registry, batcher, stats
        self.worker_running = worker_running
        self.readers: dict[str, SourceReader] = {}
        self.started = False

    def open(self, config: SourceConfig) -> SourceReader:
        """A reader for `config`, its source opened (a file that cannot open raises SourceOpenError)."""
        source = self.registry.make_source(config)
        open_source(source, config)
        self.stats.stream_state.setdefault(config.id, "starting")
        return SourceReader(source, config, self.batcher.notify)

    def start(self) -> None:
        self.started = True
        for reader in self.readers.values():
            self.batcher.attach(reader)
            reader.start()

    def attach(self, reader: SourceReader) -> None:
        """Add a reader (started at once when the pipeline runs)."""
        self.readers[reader.id] = reader
        if self.started:
            self.batcher.attach(reader)
            reader.start()

    def running(self, source_id: str) -> SourceReader | None:
        """The reader of `source_id` if it has not ended yet (an ended one is forgotten)."""
        reader = self.readers.get(source_id)
        if reader is not None and reader.removed.is_set():
            del self.readers[source_id]
            return None
        return reader

    def detach(self, reader: SourceReader, timeout: float) -> None:
        """Stop a reader and wait until the worker has ended its streams (at most `timeout` s)."""
        reader.stop()
        if self.started and self.worker_running():
            if not reader.removed.wait(timeout):
                log.warning("source '%s': still ending after %.0f s", reader.id, timeout)
        else:
            reader.source.close()
        if self.readers.get(reader.id) is reader:
            del self.readers[reader.id]

    def reader_done(self, done: ReaderDone) -> None:
        """From the worker: a reader put its last item; its streams are ended."""
        for reader in list(self.readers.values()):
            if reader.key == done.key:
                self.count_drops(reader)
                reader.removed.set()
                return

    def stop_all(self) -> None:
        for reader in list(self.readers.values()):  # no lock: also called from the worker thread
            reader.stop()

    def join_all(self, timeout: float) -> None:
        for reader in list(self.readers.values()):
            reader.join(timeout)
            self.count_drops(reader)

    def close_unstarted(self) -> None:
        for reader in self.readers.values():
            reader.source.close()

    def count_drops(self, reader: SourceReader) -> None:
        self.stats.dropped_per_source[reader.id] = reader.queue.dropped

    def total_frames(self) -> int | None:
        """Frames the sources will deliver, when every one is finite and knows its length."""
        total = 0
        for reader in self.readers.values():
            count = reader.source.total_frames()
            if count is None:
                return None
            count = -(-count // reader.config.frame_interval)
            total += min(count, reader.config.max_frames) if reader.config.max_frames else count
        return total
