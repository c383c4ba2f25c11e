"""One clip's MP4: encoded frames copied into a fragmented file, timestamps starting at 0.

`frag_keyframe+empty_moov+default_base_moof` writes the header first and one fragment per keyframe
interval, and `flush_packets` hands each fragment to the OS at once: a process killed outright
(SIGKILL) leaves a file that plays up to the last finished fragment.
"""

from __future__ import annotations

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

    def write(self, frame: EncodedFrame) -> None:
        """Append one frame (the first must be a keyframe); OSError / av errors: the disk refused."""
        if self.first is None:
            self.first = frame
        if frame.key and self.last is not None:
            self.durable_pts_s = self.last.pts_s  # this keyframe closes the previous fragment
        packet = av.Packet(frame.data)
        packet.pts = packet.dts = frame.pts - self.first.pts
        packet.time_base, packet.stream, packet.is_keyframe = TIME_BASE, self._stream, frame.key
        self._container.mux(packet)
        self.last = frame
        self.frames += 1

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
            container.close()
            if self.last is not None:
                self.durable_pts_s = self.last.pts_s

    def abandon(self) -> None:
        """Close after a write failed, ignoring further errors (what reached the disk stays playable)."""
        try:
            self.close()
        except (OSError, av.error.FFmpegError):
            self._container = None
