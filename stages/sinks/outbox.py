"""An on-disk outbox for events on their way to a broker or endpoint (SQLite, WAL, fsync on append).

Events are appended (durably: `synchronous=FULL`) before any delivery is tried, read back oldest
first, and removed only once the receiver has acknowledged them. Delivery in `seq` order is in order
per source too. The file outlives the process: a new outbox on the same path starts with what the
last run left, ahead of anything appended later.

    CREATE TABLE outbox (
        seq    INTEGER PRIMARY KEY AUTOINCREMENT,  -- append order (never reused)
        id     TEXT NOT NULL UNIQUE,               -- Event.id: appending the same event twice stores it once
        source TEXT NOT NULL,                      -- source id (MQTT topics are built from it)
        body   TEXT NOT NULL                       -- the event as JSON (Event.to_json())
    );

One connection, shared by the runner's thread (append) and the sink's delivery thread (peek, remove)
under a lock; every call is one short transaction.

`OutboxSink` is the base of the network sinks (MQTT, webhook): `write_events` appends to the outbox
and returns at once; a delivery thread owned by the sink drains it; `close()` waits at most
`flush_timeout_s` for the outbox to empty and leaves the rest on disk for the next run.
"""

from __future__ import annotations

import fcntl
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import SinkOpenError
from pipeline.secrets import mask_secrets
from pipeline.types import Event
from stages.sinks.base import SinkBase

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq    INTEGER PRIMARY KEY AUTOINCREMENT,
    id     TEXT NOT NULL UNIQUE,
    source TEXT NOT NULL,
    body   TEXT NOT NULL
);
"""


class OutboxBusyError(RuntimeError):
    """Another sink or process has the outbox open."""


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """One stored event: its position, id, source and JSON text."""

    seq: int
    id: str
    source: str
    body: str


class Outbox:
    """A durable FIFO of events, safe to use from two threads.

    Args:
        path: the SQLite file (created with its parent folder when missing).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        # One user at a time (two deliverers would delete each other's events): an exclusive flock on a
        # side file, which also conflicts within this process. Not on the database itself: closing any
        # descriptor of it would drop SQLite's own POSIX locks.
        self._lock_file = path.with_name(path.name + ".lock").open("a")
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_file.close()
            raise OutboxBusyError(f"{path} is in use by another sink or process") from None
        try:
            self._db: sqlite3.Connection | None = sqlite3.connect(path, isolation_level=None,
                                                                  check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")  # an appended event survives a power cut too
            self._db.executescript(_SCHEMA)
            self._size = int(self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
        except BaseException:
            self._lock_file.close()
            raise

    @property
    def size(self) -> int:
        """Events stored and not yet acknowledged (cheap: kept in memory; for metrics)."""
        return self._size

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError(f"outbox {self.path.name} is closed")
        return self._db

    def append(self, events: Sequence[Event]) -> int:
        """Store events at the end, in one transaction; returns how many were new (ids already stored are skipped)."""
        if not events:
            return 0
        rows = [(e.id, e.source_id, json.dumps(e.to_json(), separators=(",", ":"), default=str)) for e in events]
        added = self._write("INSERT OR IGNORE INTO outbox (id, source, body) VALUES (?, ?, ?)", rows)
        with self._lock:
            self._size += added
        return added

    def peek(self, limit: int, after_seq: int = 0) -> list[OutboxItem]:
        """Up to `limit` oldest events whose `seq` is greater than `after_seq` (nothing is removed)."""
        with self._lock:
            rows = self._conn().execute("SELECT seq, id, source, body FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
                                        (after_seq, limit)).fetchall()
        return [OutboxItem(*row) for row in rows]

    def remove(self, seqs: Iterable[int]) -> int:
        """Delete acknowledged events by `seq`; returns how many were deleted."""
        keys = [(int(s),) for s in seqs]
        if not keys:
            return 0
        removed = self._write("DELETE FROM outbox WHERE seq = ?", keys)
        with self._lock:
            self._size -= removed
        return removed

    def _write(self, sql: str, rows: list[tuple]) -> int:
        """Run `sql` for every row in one transaction; returns the number of rows changed."""
        with self._lock:
            db = self._conn()
            before = db.total_changes
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany(sql, rows)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            return db.total_changes - before

    def close(self) -> None:
        """Checkpoint the WAL into the file and close (what is left stays for the next run)."""
        with self._lock:
            if self._db is None:
                return
            db, self._db = self._db, None
            try:
                db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                db.close()
                self._lock_file.close()  # releases the flock


class Backoff:
    """Exponential back-off delays: `initial_s`, doubled after each failure, capped at `max_s`."""

    def __init__(self, initial_s: float, max_s: float) -> None:
        self.initial_s, self.max_s = initial_s, max(max_s, initial_s)
        self._next = initial_s

    def next(self) -> float:
        """The delay to wait now; the following one is twice as long (up to `max_s`)."""
        delay, self._next = self._next, min(self._next * 2.0, self.max_s)
        return delay

    def reset(self) -> None:
        self._next = self.initial_s


class OutboxSink(SinkBase):
    """Base of sinks that deliver events over the network through an `Outbox`.

    Subclasses implement `_deliver_loop()` (run on the delivery thread until `self._stop` is set; it
    must return soon after) and may override `_disconnect()`. They call `self._down(reason)` when a
    delivery attempt fails and `self._up(what)` when it works again: the log then says each change once.
    """

    name = "outbox"

    def __init__(self, output_dir: Path, outbox: str, *, flush_timeout_s: float) -> None:
        path = output_dir / outbox
        try:
            self.outbox = Outbox(path)
        except (OSError, sqlite3.Error, OutboxBusyError) as exc:
            raise SinkOpenError(f"sink '{self.name}': outbox: cannot open {path}: {exc}") from None
        self.flush_timeout_s = flush_timeout_s
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._failing_since: float | None = None
        self._thread = threading.Thread(target=self._thread_main, name=f"sink-{self.name}", daemon=True)

    def _start(self) -> None:
        """Start the delivery thread (subclasses call this at the end of `__init__`)."""
        if self.outbox.size:
            log.info("sink '%s': %d events left by an earlier run in %s, delivering them first",
                     self.name, self.outbox.size, self.outbox.path.name)
        self._thread.start()

    @property
    def outbox_size(self) -> int:
        """Events waiting for delivery (read by the metrics endpoint)."""
        return self.outbox.size

    def write_events(self, events: Sequence[Event]) -> None:
        if events and self.outbox.append(events):
            self._wake.set()

    def _thread_main(self) -> None:
        try:
            self._deliver_loop()
        except Exception as exc:  # the thread must never die silently
            if not self._stop.is_set():
                log.error("sink '%s': delivery stopped: %s", self.name, mask_secrets(f"{type(exc).__name__}: {exc}"))
        finally:
            self._disconnect()

    def _deliver_loop(self) -> None:
        raise NotImplementedError

    def _disconnect(self) -> None:
        """Release the connection (called on the delivery thread when its loop ends)."""

    def _down(self, reason: str) -> None:
        if self._failing_since is None:
            self._failing_since = time.monotonic()
            log.warning("sink '%s': %s; retrying with back-off, events kept in %s", self.name,
                        mask_secrets(reason), self.outbox.path.name)
        else:
            log.debug("sink '%s': %s", self.name, mask_secrets(reason))

    def _up(self, what: str) -> None:
        if self._failing_since is not None:
            log.info("sink '%s': %s after %.1f s, %d events waiting", self.name, mask_secrets(what),
                     time.monotonic() - self._failing_since, self.outbox.size)
            self._failing_since = None

    def _sleep(self, seconds: float) -> None:
        """Wait, returning early when the sink closes."""
        self._stop.wait(seconds)

    def close(self) -> None:
        if self._stop.is_set():
            return
        deadline = time.monotonic() + self.flush_timeout_s
        while self.outbox.size and self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=max(1.0, deadline - time.monotonic()))
        left = self.outbox.size
        self.outbox.close()
        if left:
            log.warning("sink '%s': %d events not delivered yet, kept in %s for the next run",
                        self.name, left, self.outbox.path)
