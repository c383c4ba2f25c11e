"""One source's recording: its encoder, its pre-roll and its open clip (merges, splits, closes).

`frame()` encodes every frame into the pre-roll (and the open clip); `trigger()` opens a clip from
the pre-roll or, when one is open, extends its end to the trigger + post_s. A clip's last frame is the
first at or past its end. It is then *held* for `pre_s` more seconds (those frames stay in the
pre-roll only): a trigger in that time, whose pre-roll reaches back into the clip, extends it and the
held frames are written, so triggers whose windows overlap make one clip, never two clips sharing
frames. With no such trigger it closes at its end (when a frame past the hold comes, or the stream
ends). At a keyframe that would take a clip past `max_s` it closes and a new part goes on from that
keyframe. Each call returns what happened, as `Change`s, for the sink to index.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import av
import cv2
import numpy as np

from stages.sinks.clips.config import ClipsSinkConfig
from stages.sinks.clips.encoder import EncodedFrame, FrameEncoder
from stages.sinks.clips.index import iso
from stages.sinks.clips.ring import PreRoll
from stages.sinks.clips.writer import ClipFile

EVENT_LAG_S = 3.0  # the pre-roll also covers events decided this long after their start (actions: ~1 s)
PROGRESS_S = 5.0  # an open clip's row is refreshed at most this often (as fragments reach the disk)
WRITE_ERRORS = (OSError, av.error.FFmpegError)


@dataclass
class Clip:
    """An open clip and what its index row says."""

    id: str
    source: str
    trigger: str
    file: ClipFile
    end_due_s: float
    wall_time: float
    thumbnail: str | None
    part: int = 1
    previous: str | None = None
    events: list[str] = field(default_factory=list)
    track_ids: list[int] = field(default_factory=list)
    error: str | None = None
    row_s: float = float("-inf")  # end_pts_s of its last row

    def add(self, event_id: str, track_id: int | None) -> None:
        self.events.append(event_id)
        if track_id is not None and track_id not in self.track_ids:
            self.track_ids.append(track_id)

    def row(self, state: Literal["open", "closed"]) -> dict[str, Any]:
        """Its index row (see `index.py`); an open clip's end is what has reached the disk."""
        file = self.file
        first = file.first.pts_s if file.first else None
        whole = state == "closed" and self.error is None  # else: only what reached the disk
        end = (file.last.pts_s if file.last else first) if whole else (file.durable_pts_s or first)
        self.row_s = end if end is not None else self.row_s
        row: dict[str, Any] = {
            "id": self.id, "source": self.source, "path": file.path.name, "thumbnail": self.thumbnail,
            "start_pts_s": _r(first), "end_pts_s": _r(end), "events": list(self.events),
            "track_ids": list(self.track_ids), "trigger": self.trigger, "wall_time": iso(self.wall_time),
            "state": state, "bytes": file.bytes, "part": self.part}
        if self.previous:
            row["previous"] = self.previous
        if self.error:
            row["error"] = self.error
        return row


@dataclass
class Change:
    """What happened to a clip: opened, progress (more of it is on disk), closed, or failed (a write
    failed: `error`; `clip` is None when its file could not even be created)."""

    kind: Literal["opened", "progress", "closed", "failed"]
    clip: Clip | None
    error: str | None = None


class SourceRecorder:
    """The clips of one source (see the module doc). `new_id(source, wall_time)` names clips."""

    def __init__(self, source_id: str, fps: float, config: ClipsSinkConfig, directory: Path,
                 new_id: Callable[[str, float], str]) -> None:
        self.source_id, self.fps, self.config, self.directory = source_id, fps, config, directory
        self.new_id = new_id
        self.encoder: FrameEncoder | None = None
        self.ring = PreRoll(config.pre_s + config.keyframe_s + EVENT_LAG_S)
        self.clip: Clip | None = None
        self.last_image: np.ndarray | None = None
        self.last_pts_s: float | None = None

    def reconfigure(self, config: ClipsSinkConfig) -> None:
        """New timings and triggers from now on (an open clip keeps its end; the encoder is not touched)."""
        self.config = config
        self.ring.horizon_s = config.pre_s + config.keyframe_s + EVENT_LAG_S

    def frame(self, image: np.ndarray, pts_s: float) -> list[Change]:
        if self.encoder is None:
            c = self.config
            self.encoder = FrameEncoder(image.shape[1], image.shape[0], self.fps, preset=c.preset, crf=c.crf,
                                        keyframe_s=c.keyframe_s)
        self.last_image, self.last_pts_s = image, pts_s
        changes: list[Change] = []
        for encoded in self.encoder.encode(image, pts_s):
            self.ring.append(encoded)
            if self.clip is not None:
                changes += self._feed(encoded)
        return changes

    def trigger(self, event_id: str, event_type: str, pts_s: float | None, start_pts_s: float | None,
                track_id: int | None, wall_time: float) -> list[Change]:
        """A matching event: extend the open clip, or open one from the pre-roll."""
        if self.encoder is None or self.last_pts_s is None:
            return []  # no frame yet: nothing to record
        at = pts_s if pts_s is not None else self.last_pts_s
        if self.clip is not None:
            clip, last = self.clip, self.clip.file.last
            held = last is not None and last.pts_s >= clip.end_due_s - 1e-6
            clip.end_due_s = max(clip.end_due_s, at + self.config.post_s)
            clip.add(event_id, track_id)
            if not held or last is None:
                return []
            changes: list[Change] = []  # the held frames since its last one join the clip
            for encoded in self.ring.since(last.pts_s):
                if encoded.pts_s > last.pts_s + 1e-6 and self.clip is clip:
                    changes += self._feed(encoded)
            return changes
        frames = self.ring.since(min(at, start_pts_s if start_pts_s is not None else at) - self.config.pre_s)
        if not frames:
            return []
        changes = self._open(frames[0], event_type, at + self.config.post_s, wall_time - (at - frames[0].pts_s))
        if self.clip is None:
            return changes
        self.clip.add(event_id, track_id)
        for encoded in frames:
            if self.clip is None:
                break
            changes += self._feed(encoded, opening=True)
        return changes

    def finish(self) -> list[Change]:
        """Close the open clip (end of stream, close)."""
        clip, self.clip = self.clip, None
        if clip is None:
            return []
        try:
            clip.file.close()
        except WRITE_ERRORS as exc:
            return [self._failed(clip, exc)]
        return [Change("closed", clip)]

    def close(self) -> list[Change]:
        changes = self.finish()
        if self.encoder is not None:
            self.encoder.close()
            self.encoder = None
        self.ring.clear()
        return changes

    # ------------------------------------------------------------------ internals
    def _open(self, first: EncodedFrame, trigger: str, end_due_s: float, wall_time: float,
              previous: Clip | None = None) -> list[Change]:
        assert self.encoder is not None
        clip_id = self.new_id(self.source_id, wall_time)
        thumbnail = f"{clip_id}.jpg"
        if self.last_image is None or not cv2.imwrite(str(self.directory / thumbnail), self.last_image,
                                                      [cv2.IMWRITE_JPEG_QUALITY, 85]):
            thumbnail = None
        try:
            file = ClipFile(self.directory / f"{clip_id}.mp4", self.encoder.stream)
        except WRITE_ERRORS as exc:
            if thumbnail:
                (self.directory / thumbnail).unlink(missing_ok=True)
            (self.directory / f"{clip_id}.mp4").unlink(missing_ok=True)
            return [Change("failed", None, _describe(exc))]
        self.clip = Clip(clip_id, self.source_id, trigger, file, end_due_s, wall_time, thumbnail)
        if previous is not None:
            self.clip.part, self.clip.previous = previous.part + 1, previous.id
        return [Change("opened", self.clip)]

    def _feed(self, encoded: EncodedFrame, opening: bool = False) -> list[Change]:
        clip = self.clip
        assert clip is not None
        last = clip.file.last
        if last is not None and last.pts_s >= clip.end_due_s - 1e-6:  # complete: held (module doc), then closed
            return self.finish() if encoded.pts_s > clip.end_due_s + self.config.pre_s + 1e-6 else []
        changes: list[Change] = []
        first = clip.file.first
        if encoded.key and first is not None and encoded.pts_s - first.pts_s + self.config.keyframe_s > \
                self.config.max_s + 1e-6:
            changes += self.finish()  # split: this keyframe starts the next part
            changes += self._open(encoded, clip.trigger, clip.end_due_s,
                                  clip.wall_time + (encoded.pts_s - first.pts_s), previous=clip)
            if self.clip is None:
                return changes
            clip = self.clip
        try:
            clip.file.write(encoded)
        except WRITE_ERRORS as exc:
            self.clip = None
            clip.file.abandon()
            return [*changes, self._failed(clip, exc)]
        durable = clip.file.durable_pts_s
        if not opening and durable is not None and durable - clip.row_s >= PROGRESS_S:
            changes.append(Change("progress", clip))
        return changes

    def _failed(self, clip: Clip, exc: BaseException) -> Change:
        clip.error = _describe(exc)
        return Change("failed", clip, clip.error)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {getattr(exc, 'strerror', None) or exc}"


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
