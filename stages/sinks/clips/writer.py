"""One clip's MP4: encoded frames copied into a fragmented file, timestamps starting at 0.

`frag_keyframe+empty_moov+default_base_moof` writes the header first and one fragment per keyframe
interval, and `flush_packets` hands each fragment to the OS at once: a process killed outright
(SIGKILL) leaves a file that plays up to the last finished fragment.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import av

from stages.sinks.clips.encoder import TIME_BASE, EncodedFrame

MOVFLAGS = {"movflags": "frag_keyframe+empty_moov+default_base_moof", "flush_packets": "1"}


class ClipFile:
    """An open clip file. `durable_pts_s`: the last frame of the fragments already written out."""

    def __init__(self, path: Path, template: av.video.stream.VideoStream) -> None:
        self.path = path
        self._container = av.open(str(path), "w", format="mp4", options=MOVFLAGS)
        try:
            self._stream = self._container.add_stream_from_template(template)
            self._stream.time_base = TIME_BASE
        except BaseException:
            self._container.close()
            raise
        self.first: EncodedFrame | None = None
        self.last: EncodedFrame | None = None
        self.durable_pts_s: float | None = None
        self.frames = 0
        self._whole = 0  # the file's size at the end of its last whole fragment

    def write(self, frame: EncodedFrame) -> None:
        """Append one frame (the first must be a keyframe); OSError / av errors: the disk refused (the
        file is cut back to its last whole fragment)."""
        if self.first is None:
            self.first = frame
        packet = av.Packet(frame.data)
        packet.pts = packet.dts = frame.pts - self.first.pts
        packet.time_base, packet.stream, packet.is_keyframe = TIME_BASE, self._stream, frame.key
        if frame.key:  # the muxer keeps a fragment in memory until the next keyframe writes it out
            self._whole = self.bytes
        try:
            self._container.mux(packet)
        except BaseException:
            self._cut_back()
            raise
        if frame.key and self.last is not None:
            self.durable_pts_s = self.last.pts_s  # this keyframe wrote out the previous fragment
        self.last = frame
        self.frames += 1

    def _cut_back(self) -> None:
        """Drop a fragment written in part (a full disk), so the file ends with whole fragments."""
        with contextlib.suppress(OSError):
            os.truncate(self.path, self._whole)

    @property
    def bytes(self) -> int:
        try:
            return self.path.stat().st_size
        except OSError:
            return 0

    def close(self) -> None:
        """Write the last fragment and close the file (idempotent)."""
        if self._container is not None:
            container, self._container = self._container, None
            self._whole = self.bytes
            try:
                container.close()
            except BaseException:
                self._cut_back()
                raise
            if self.last is not None:
                self.durable_pts_s = self.last.pts_s

    def abandon(self) -> None:
        """Close after a write failed, ignoring further errors: the file keeps the whole fragments written
        before the failure (up to `durable_pts_s`)."""
        container, self._container = self._container, None
        if container is not None:
            with contextlib.suppress(OSError, av.error.FFmpegError):
                container.close()
            self._cut_back()
