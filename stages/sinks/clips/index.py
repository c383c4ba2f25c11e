"""`clips.jsonl`: one JSON row per clip state, appended; readers take the last row per id.

Crash safety: a clip gets an `open` row when it starts, `open` rows as its fragments reach the disk
(at most every PROGRESS_S), and a `closed` row when it ends; deleting a clip appends a `deleted`
row. Each row is one `write` of a whole line on a descriptor opened with O_APPEND, so a kill leaves
whole rows (a line torn by a full disk is cut back; a reader skips any line it cannot parse). The
sink that owns a folder holds `.clips.lock` (flock); at start it probes the clips a killed run left
`open` (their MP4s play up to the last fragment), records them `closed` with `interrupted: true`,
and rewrites the index atomically with one row per live clip (`pipeline.atomic_file`).

Row fields: id, source, path and thumbnail (relative to the index's folder), start_pts_s,
end_pts_s, events (event ids), track_ids, trigger (event type), wall_time (ISO 8601, UTC, the clip's
first frame), state (open | closed), bytes, part (1, 2, ... when a long clip is split), and where it
applies `previous` (the part before), `error`, `interrupted`.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import av

from pipeline.atomic_file import write_text_atomic

log = logging.getLogger(__name__)

INDEX_NAME = "clips.jsonl"
LOCK_NAME = ".clips.lock"
Row = dict[str, Any]


class ClipBusyError(RuntimeError):
    """The clip is being written by a running sink (it can be deleted once closed)."""


def iso(unix_s: float) -> str:
    return datetime.fromtimestamp(unix_s, UTC).isoformat(timespec="milliseconds")


def parse_rows(text: str) -> dict[str, Row]:
    """id -> its last row, in order of first appearance; deleted clips and unreadable lines left out."""
    rows: dict[str, Row] = {}
    for line in text.splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue  # a line torn by a crash or a full disk
        if not isinstance(row, dict) or not isinstance(row.get("id"), str):
            continue
        if row.get("state") == "deleted":
            rows.pop(row["id"], None)
        else:
            rows[row["id"]] = row
    return rows


def read_index(directory: str | Path) -> list[Row]:
    """The clips listed in `directory/clips.jsonl` (last row per id wins), oldest first."""
    try:
        text = (Path(directory) / INDEX_NAME).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    return list(parse_rows(text).values())


def delete_clip(directory: str | Path, clip_id: str) -> bool:
    """Remove a clip's files and record it deleted; False when the index has no such clip.

    Raises:
        ClipBusyError: the clip is open in a running sink.
    """
    directory = Path(directory)
    with _lock(directory, wait=False) as owned:
        row = parse_rows(_read(directory / INDEX_NAME)).get(clip_id)
        if row is None:
            return False
        if row.get("state") == "open" and not owned:
            raise ClipBusyError(f"clip '{clip_id}' is being written")
        remove_files(directory, row)
        append_row(directory / INDEX_NAME, {"id": clip_id, "state": "deleted", "deleted_at": iso(_now())})
    return True


def remove_files(directory: Path, row: Row) -> None:
    """Delete a clip's MP4 and thumbnail; a row naming a file outside `directory` (an index edited by
    hand or tampered with) deletes nothing there and is logged."""
    root = directory.resolve()
    for key in ("path", "thumbnail"):
        if not row.get(key):
            continue
        target = (directory / row[key]).resolve()
        if not target.is_relative_to(root):
            log.warning("clips index %s: clip %r names %s outside the folder; not deleted", directory,
                        row.get("id"), row[key])
            continue
        target.unlink(missing_ok=True)


def append_row(path: Path, row: Row) -> None:
    """Append one row as one whole line (cut back if the write fails part-way, then raised)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        _append(fd, row, path)
    finally:
        os.close(fd)


def _append(fd: int, row: Row, path: Path) -> None:
    data = memoryview((json.dumps(row, separators=(",", ":")) + "\n").encode("utf-8"))
    before = os.fstat(fd).st_size
    try:
        while data:  # a short write is retried: the retry raises the real error (ENOSPC, EFBIG)
            data = data[os.write(fd, data):]
    except OSError as exc:
        os.ftruncate(fd, before)
        raise OSError(exc.errno, f"{exc.strerror}: {path}") from None


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""


def _now() -> float:
    return datetime.now(UTC).timestamp()


@contextlib.contextmanager
def _lock(directory: Path, *, wait: bool) -> Iterator[bool]:
    """Hold the folder's lock if free (yields True) or, when `wait` is False and a sink holds it, go on
    without it (yields False)."""
    handle = (directory / LOCK_NAME).open("a")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            owned = True
        except BlockingIOError:
            owned = False
        yield owned
    finally:
        handle.close()


def recorded_span_s(path: Path) -> float | None:
    """Seconds from the first to the last frame an MP4 holds, up to a torn end (None: no frame)."""
    times: list[int] = []
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            time_base = stream.time_base
            for packet in container.demux(stream):
                if packet.pts is not None and packet.size:
                    times.append(packet.pts)
    except (OSError, av.error.FFmpegError, IndexError):
        pass  # what was read before the error counts
    if not times:
        return None
    return float((max(times) - min(times)) * time_base)


class ClipIndex:
    """The index of one clips folder, owned by one sink (see the module doc)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / INDEX_NAME
        self._lock_file = (directory / LOCK_NAME).open("a")
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_file.close()
            raise ClipBusyError(f"{directory} is used by another clips sink (lock {directory / LOCK_NAME})") from None
        try:
            self.rows = parse_rows(_read(self.path))
            self.recovered = self._recover()
            write_text_atomic(self.path, "".join(json.dumps(r, separators=(",", ":")) + "\n"
                                                 for r in self.rows.values()))
            os.chmod(self.path, 0o644)  # readable by a server running as another user, like the clips
            self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        except BaseException:
            self._lock_file.close()
            raise

    def _recover(self) -> list[str]:
        """Close the clips a killed run left open: probe what their MP4s hold; drop those with no frame."""
        recovered = []
        for clip_id, row in list(self.rows.items()):
            if row.get("state") != "open":
                continue
            span = recorded_span_s(self.directory / str(row.get("path", "")))
            if span is None:
                remove_files(self.directory, row)
                del self.rows[clip_id]
                continue
            row.update(state="closed", interrupted=True, end_pts_s=round(row["start_pts_s"] + span, 3),
                       bytes=(self.directory / row["path"]).stat().st_size)
            recovered.append(clip_id)
        return recovered

    def append(self, row: Row) -> None:
        """Record a row (OSError: the disk refused it; the index keeps its previous rows)."""
        if self._fd is None:
            raise OSError(f"{self.path} is closed")
        _append(self._fd, row, self.path)
        if row.get("state") == "deleted":
            self.rows.pop(row["id"], None)
        else:
            self.rows[row["id"]] = row

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
            self._lock_file.close()  # releases the flock
