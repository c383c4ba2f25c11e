"""SQLite events sink (`{type: events, path: events.db}`), the outbox, and sink open errors."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest

from pipeline import EXIT_OK, Pipeline
from pipeline.config import load_config
from pipeline.errors import SinkOpenError
from pipeline.registry import default_registry
from pipeline.types import Event, EventType
from stages.sinks.jsonl import EventsSink, EventsSinkConfig
from stages.sinks.outbox import Outbox
from stages.sinks.sqlite_events import SqliteEventsSink
from stages.sinks.webhook import WebhookSinkConfig
from tests.conftest import write_video


def make_events(n: int, sources: tuple[str, ...] = ("a", "b")) -> list[Event]:
    return [Event(EventType.TRACK_STARTED, sources[i % len(sources)], pts_s=i / 25, frame_index=i,
                  track_id=i % 7, payload={"n": i, "label": "person"}) for i in range(n)]


def read_rows(path: Path) -> list[tuple]:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT id, type, source, wall_time, pts_s, frame_index, track_id, payload "
                          "FROM events ORDER BY frame_index").fetchall()


@pytest.mark.parametrize("name", ["events.db", "events.sqlite", "sub/events.sqlite3"])
def test_events_path_suffix_chooses_sqlite(tmp_path: Path, name: str) -> None:
    sink = default_registry().build_sink(EventsSinkConfig(path=name), tmp_path)
    assert isinstance(sink, SqliteEventsSink)
    sink.close()
    jsonl = default_registry().build_sink(EventsSinkConfig(path="events.jsonl"), tmp_path)
    assert isinstance(jsonl, EventsSink)
    jsonl.close()


def test_sqlite_rows_schema_indexes_integrity(tmp_path: Path) -> None:
    events = make_events(500)
    sink = default_registry().build_sink(EventsSinkConfig(path="events.db", commit_every=64), tmp_path)
    for start in range(0, 500, 37):
        sink.write_events(events[start:start + 37])
    sink.write_events(events[:10])  # the same ids again: stored once
    sink.close()
    path = tmp_path / "events.db"
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        indexes = {row[1]: row[2] for row in db.execute("SELECT type, name, tbl_name FROM sqlite_master "
                                                         "WHERE type = 'index' AND name LIKE 'events_%'")}
        assert set(indexes) == {"events_wall_time", "events_source", "events_type"}
        columns = [(r[1], r[2]) for r in db.execute("PRAGMA table_info(events)")]
        assert columns == [("id", "TEXT"), ("type", "TEXT"), ("source", "TEXT"), ("wall_time", "REAL"),
                           ("pts_s", "REAL"), ("frame_index", "INTEGER"), ("track_id", "INTEGER"),
                           ("payload", "JSON")]
        plan = " ".join(str(r) for r in db.execute(
            "EXPLAIN QUERY PLAN SELECT * FROM events WHERE source = 'a' AND wall_time > 0"))
        assert "events_source" in plan
    assert not Path(f"{path}-wal").exists() or Path(f"{path}-wal").stat().st_size == 0  # checkpointed on close
    rows = read_rows(path)
    assert len(rows) == 500
    for row, event in zip(rows, events, strict=True):
        assert row[:7] == (event.id, "track_started", event.source_id, event.wall_time, event.pts_s,
                           event.frame_index, event.track_id)
        assert json.loads(row[7]) == event.payload


def test_sqlite_commits_in_batches_by_count_and_time(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    sink = SqliteEventsSink(path, commit_every=10, commit_ms=60_000)
    events = make_events(25)
    sink.write_events(events[:9])
    reader = sqlite3.connect(path)
    count = lambda: reader.execute("SELECT COUNT(*) FROM events").fetchone()[0]  # noqa: E731
    assert count() == 0  # not committed yet: 9 < 10 and no time passed
    sink.write_events(events[9:12])
    assert count() == 12
    timed = SqliteEventsSink(tmp_path / "timed.db", commit_every=1000, commit_ms=1)
    time.sleep(0.01)
    timed.write_events(events[:3])
    with sqlite3.connect(tmp_path / "timed.db") as other:
        assert other.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 3
    timed.close()
    sink.write_events(events[12:25])
    sink.close()
    assert count() == 25
    reader.close()


def test_sqlite_keeps_rows_of_earlier_runs(tmp_path: Path) -> None:
    first, second = make_events(5), make_events(7)
    for batch in (first, second):
        sink = default_registry().build_sink(EventsSinkConfig(path="events.sqlite"), tmp_path)
        sink.write_events(batch)
        sink.close()
    assert len(read_rows(tmp_path / "events.sqlite")) == 12


def test_runner_writes_events_db(tmp_path: Path) -> None:
    a, b = write_video(tmp_path / "a.mp4", 10), write_video(tmp_path / "b.mp4", 6)
    config = load_config(None, replace={
        "sources": [{"id": "a", "uri": str(a)}, {"id": "b", "uri": str(b)}], "output_dir": str(tmp_path / "out"),
        "sinks": [{"type": "events", "path": "events.db"}, {"type": "events", "path": "events.jsonl"}],
        "runner": {"progress": False}})
    assert Pipeline(config, stages=[]).run() == EXIT_OK
    lines = [json.loads(line) for line in (tmp_path / "out" / "events.jsonl").read_text().splitlines()]
    with sqlite3.connect(tmp_path / "out" / "events.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = db.execute("SELECT id, type, source FROM events ORDER BY rowid").fetchall()
    assert rows == [(e["id"], e["type"], e["source"]) for e in lines]
    assert {r[1] for r in rows} >= {"stream_opened", "stream_ended"}


def test_outbox_fifo_dedupe_and_restart(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    events = make_events(30)
    box = Outbox(path)
    assert box.append(events[:20]) == 20
    assert box.append(events[10:20]) == 0  # already stored
    head = box.peek(5)
    assert [json.loads(i.body)["id"] for i in head] == [e.id for e in events[:5]]
    assert [i.source for i in head] == [e.source_id for e in events[:5]]
    assert [i.id for i in box.peek(3, after_seq=head[-1].seq)] == [e.id for e in events[5:8]]
    assert box.remove(i.seq for i in head) == 5 and box.size == 15
    box.close()
    again = Outbox(path)  # a new run: what was left comes first, then new events
    assert again.size == 15
    again.append(events[20:])
    assert [i.id for i in again.peek(100)] == [e.id for e in events[5:]]
    assert again.size == 25
    again.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_unusable_paths_are_one_line_errors_naming_sink_and_key(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(SinkOpenError, match=r"^sink 'events': path: cannot open .*file/events\.db: ") as info:
        default_registry().build_sink(EventsSinkConfig(path="file/events.db"), tmp_path)
    assert info.value.exit_code == 2 and "\n" not in str(info.value)
    config = WebhookSinkConfig(url="http://user:pw@127.0.0.1:9/", outbox="file/outbox.db")
    with pytest.raises(SinkOpenError, match=r"^sink 'webhook': outbox: cannot open "):
        default_registry().build_sink(config, tmp_path)


def test_one_outbox_file_serves_one_sink(tmp_path: Path) -> None:
    config = WebhookSinkConfig(url="http://127.0.0.1:9/", flush_timeout_s=0)
    first = default_registry().build_sink(config, tmp_path)
    try:
        with pytest.raises(SinkOpenError, match=r"outbox: .* in use by another sink or process"):
            default_registry().build_sink(config, tmp_path)
    finally:
        first.close()
    default_registry().build_sink(config, tmp_path).close()  # free again once closed
