"""Events into a SQLite database (`{type: events, path: events.db}`): WAL mode, batched transactions.

Schema (one row per event; rows from earlier runs are kept, an event id is stored once):

    CREATE TABLE events (
        id          TEXT PRIMARY KEY,   -- Event.id (hex uuid)
        type        TEXT NOT NULL,      -- stream_opened, track_started, ...
        source      TEXT NOT NULL,      -- source id
        wall_time   REAL NOT NULL,      -- Unix time the event was created
        pts_s       REAL,               -- stream time, when tied to a frame
        frame_index INTEGER,
        track_id    INTEGER,
        payload     JSON NOT NULL       -- the rest of the event as a JSON object ('{}' when empty)
    );
    indexes: events_wall_time(wall_time), events_source(source, wall_time), events_type(type, wall_time)

Rows are committed every `commit_every` events or `commit_ms` milliseconds (checked on every call
from the runner), and on `close()`, which also checkpoints the WAL into the main file.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

from pipeline.errors import SinkOpenError
from pipeline.types import Event, Packet
from stages.sinks.base import SinkBase

SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id          TEXT PRIMARY KEY,
    type        TEXT NOT NULL,
    source      TEXT NOT NULL,
    wall_time   REAL NOT NULL,
    pts_s       REAL,
    frame_index INTEGER,
    track_id    INTEGER,
    payload     JSON NOT NULL
);
CREATE INDEX IF NOT EXISTS events_wall_time ON events(wall_time);
CREATE INDEX IF NOT EXISTS events_source ON events(source, wall_time);
CREATE INDEX IF NOT EXISTS events_type ON events(type, wall_time);
"""

_INSERT = ("INSERT OR IGNORE INTO events (id, type, source, wall_time, pts_s, frame_index, track_id, payload) "
           "VALUES (?, ?, ?, ?, ?, ?, ?, ?)")


def is_sqlite_path(path: str) -> bool:
    """Whether an events `path` names a SQLite database (by its suffix)."""
    return path.lower().endswith(SQLITE_SUFFIXES)


def event_row(event: Event) -> tuple:
    """The `events` row for one event."""
    return (event.id, str(event.type), event.source_id, event.wall_time, event.pts_s, event.frame_index,
            event.track_id, json.dumps(event.payload, separators=(",", ":"), default=str))


class SqliteEventsSink(SinkBase):
    """Appends every event to the `events` table of a SQLite database in WAL mode.

    Args:
        path: the database file (created with its parent folder when missing).
        commit_every: commit after this many pending events.
        commit_ms: commit pending events at least this often (checked whenever the runner calls in).
    """

    name = "events"

    def __init__(self, path: Path, *, commit_every: int = 200, commit_ms: float = 500.0) -> None:
        self.path = path
        self.commit_every = commit_every
        self.commit_s = commit_ms / 1000.0
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: transactions are explicit (BEGIN ... COMMIT) below.
            # Opened on the caller's thread, then used only by the pipeline's worker thread (one at a time).
            self._db: sqlite3.Connection | None = sqlite3.connect(path, isolation_level=None,
                                                                  check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")  # WAL: durable against a crash of the process
            self._db.executescript(SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise SinkOpenError(f"sink 'events': path: cannot open {path}: {exc}") from None
        self._pending = 0
        self._last_commit = time.monotonic()

    def write_events(self, events: Sequence[Event]) -> None:
        if self._db is None or not events:
            return
        if not self._db.in_transaction:
            self._db.execute("BEGIN")
        self._db.executemany(_INSERT, [event_row(e) for e in events])
        self._pending += len(events)
        self._maybe_commit()

    def write(self, packet: Packet) -> None:
        self._maybe_commit()  # the time-based commit, on the runner's per-frame call

    def end_source(self, source_id: str) -> None:
        self._maybe_commit()

    def _maybe_commit(self) -> None:
        if self._pending and (self._pending >= self.commit_every
                              or time.monotonic() - self._last_commit >= self.commit_s):
            self.commit()

    def commit(self) -> None:
        """Commit the pending events now."""
        if self._db is not None and self._db.in_transaction:
            self._db.execute("COMMIT")
        self._pending = 0
        self._last_commit = time.monotonic()

    def close(self) -> None:
        if self._db is None:
            return
        db, self._db = self._db, None
        try:
            if db.in_transaction:
                db.execute("COMMIT")
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            db.close()
