"""The `clips` sink: per source a recorder (encoder, pre-roll, open clip), one index, retention.

Frames reach `write` already carrying their stage results; this sink draws its own `annotate:` list
on them (as the video sink does) before they are encoded. Events reach `write_events` right after the
frame they belong to, so the frame a trigger names is the source's latest one (its thumbnail).
Finished clips become `clip_saved` events, handed to the sink set through `take_events()`.

A write that fails (full disk, file-size limit) ends that clip only: what reached the disk stays
playable and indexed (`error` in its row), the failure is logged and counted (`stats()`: `errors`,
`last_error`), and the sink keeps recording: the next trigger tries again. Other sinks never see it.
"""

from __future__ import annotations

import itertools
import logging
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipeline.errors import SinkOpenError
from pipeline.types import Event, Packet
from stages.annotate import annotate_key, annotate_packet, build_annotators
from stages.sinks.base import SinkBase
from stages.sinks.clips.config import ClipsSinkConfig
from stages.sinks.clips.events import CLIP_SAVED
from stages.sinks.clips.index import ClipBusyError, ClipIndex, iso, remove_files
from stages.sinks.clips.recorder import Change, SourceRecorder
from stages.sinks.clips.retention import expired
from stages.sinks.clips.triggers import matching_trigger
from stages.sources.base import StreamStart

log = logging.getLogger("argus")
RETENTION_EVERY_S = 60.0  # `days` is also applied this often while no clip closes
LOG_EVERY_S = 60.0  # the same failure is logged at most this often (all are counted)
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


class ClipsSink(SinkBase):
    name = "clips"

    def __init__(self, config: ClipsSinkConfig, output_dir: Path) -> None:
        self.config = config
        self.directory = output_dir / config.dir
        self.directory.mkdir(parents=True, exist_ok=True)
        probe = self.directory / ".clips-write-test"
        probe.write_bytes(b"")  # OSError (not writable): a one-line error at start
        probe.unlink()
        try:
            self.index = ClipIndex(self.directory)
        except ClipBusyError as exc:
            raise SinkOpenError(f"sink '{config.id or config.type}': {exc}") from None
        self.annotators, self._draw_key = build_annotators(config.annotate), annotate_key(config.annotate)
        self._recorders: dict[str, SourceRecorder] = {}
        self._fps: dict[str, float] = {}
        self._emitted: list[Event] = []
        self._numbers = itertools.count(1)
        self.saved = self.deleted = self.errors = 0
        self.last_error: str | None = None
        self._logged: tuple[str, float] = ("", 0.0)
        self._next_retention = 0.0
        if self.index.recovered:
            log.warning("clips: %d clip(s) left open by an interrupted run were closed: %s",
                        len(self.index.recovered), ", ".join(self.index.recovered))
        self._retain()

    def reconfigure(self, config: ClipsSinkConfig) -> bool:
        """Take a changed config in place, index and pre-rolls kept (a second sink could not take the
        folder's lock); new encoder settings close the open clips and restart the encoders. False (nothing
        changed) when `dir` differs: a new sink opens the new folder."""
        if config.dir != self.config.dir:
            return False
        encoding = ("crf", "preset", "keyframe_s")
        restart = any(getattr(config, key) != getattr(self.config, key) for key in encoding)
        self.config, self.annotators = config, build_annotators(config.annotate)
        self._draw_key = annotate_key(config.annotate)
        for recorder in self._recorders.values():
            if restart:
                self._apply(recorder.close())
            recorder.reconfigure(config)
        return True

    # ------------------------------------------------------------------ sink interface
    def start_source(self, start: StreamStart) -> None:
        self._fps[start.source_id] = start.fps

    def write(self, packet: Packet) -> None:
        frame = packet.frame
        recorder = self._recorders.get(frame.source_id)
        if recorder is None:
            recorder = self._recorders[frame.source_id] = SourceRecorder(
                frame.source_id, self._fps.get(frame.source_id, 25.0), self.config, self.directory, self._new_id)
        image = frame.image
        if self.annotators:
            image = annotate_packet(packet, self.annotators, self._draw_key)
        self._apply(recorder.frame(image, frame.pts_s))
        if time.monotonic() >= self._next_retention:
            self._retain()

    def write_events(self, events: Sequence[Event]) -> None:
        for event in events:
            trigger = matching_trigger(self.config.trigger, event)
            recorder = self._recorders.get(event.source_id) if trigger is not None else None
            if recorder is None:
                continue
            start = event.payload.get("start_pts_s")
            start = float(start) if isinstance(start, int | float) and not isinstance(start, bool) else None
            self._apply(recorder.trigger(event.id, event.type, event.pts_s, start, event.track_id, event.wall_time))

    def end_source(self, source_id: str) -> None:
        recorder = self._recorders.pop(source_id, None)
        if recorder is not None:
            self._apply(recorder.close())

    def close(self) -> None:
        try:
            for source_id in list(self._recorders):
                self.end_source(source_id)
        finally:
            self.index.close()

    def take_events(self) -> list[Event]:
        """The `clip_saved` events since the last call (the sink set delivers them to every sink)."""
        events, self._emitted = self._emitted, []
        return events

    def stats(self) -> dict[str, Any]:
        """Counts for `Pipeline.stats()` (any thread: a snapshot)."""
        recorders = list(self._recorders.values())
        return {"open": sum(r.clip is not None for r in recorders), "saved": self.saved, "deleted": self.deleted,
                "errors": self.errors, "last_error": self.last_error,
                "preroll_bytes": sum(r.ring.nbytes for r in recorders)}

    # ------------------------------------------------------------------ internals
    def _new_id(self, source_id: str, wall_time: float) -> str:
        base = f"{_UNSAFE.sub('_', source_id)}-{int(wall_time * 1000)}"
        while True:
            clip_id = f"{base}-{next(self._numbers)}"
            if clip_id not in self.index.rows and not (self.directory / f"{clip_id}.mp4").exists():
                return clip_id

    def _apply(self, changes: list[Change]) -> None:
        for change in changes:
            clip = change.clip
            if change.kind == "failed":
                self._error(f"clip {clip.id if clip else '(not created)'}: {change.error}")
                if clip is not None:
                    self._row(clip.row("closed"))
            elif clip is not None and change.kind in ("opened", "progress"):
                self._row(clip.row("open"))
            elif clip is not None and change.kind == "closed":
                row = clip.row("closed")
                if self._row(row):
                    self.saved += 1
                    self._emitted.append(self._saved_event(row))
                self._retain()

    def _saved_event(self, row: dict[str, Any]) -> Event:
        where = Path(self.config.dir)
        return Event(CLIP_SAVED, row["source"], pts_s=row["end_pts_s"], payload={
            "clip": row["id"], "path": str(where / row["path"]),
            "thumbnail": str(where / row["thumbnail"]) if row["thumbnail"] else None,
            "start_pts_s": row["start_pts_s"], "end_pts_s": row["end_pts_s"], "trigger": row["trigger"],
            "bytes": row["bytes"]})

    def _row(self, row: dict[str, Any]) -> bool:
        try:
            self.index.append(row)
        except OSError as exc:
            self._error(f"{self.index.path}: cannot record clip {row['id']}: {exc.strerror or exc}")
            return False
        return True

    def _error(self, message: str) -> None:
        self.errors += 1
        self.last_error = message
        now = time.monotonic()
        if message != self._logged[0] or now - self._logged[1] >= LOG_EVERY_S:
            self._logged = (message, now)
            log.error("sink '%s': %s (the clips sink goes on; %d failure(s) so far)",
                      self.config.id or self.config.type, message, self.errors)

    def _retain(self) -> None:
        """Delete what retention says (closed clips only); forget clips deleted by someone else."""
        self._next_retention = time.monotonic() + RETENTION_EVERY_S
        rows = self.index.rows
        for clip_id, row in list(rows.items()):
            if row.get("state") == "closed" and not (self.directory / str(row.get("path"))).exists():
                del rows[clip_id]
        retain = self.config.retain
        max_bytes = retain.max_gb * 1e9 if retain.max_gb is not None else None
        for clip_id in expired(rows.values(), time.time(), retain.days, max_bytes):
            remove_files(self.directory, rows[clip_id])
            if self._row({"id": clip_id, "state": "deleted", "deleted_at": iso(time.time())}):
                self.deleted += 1
