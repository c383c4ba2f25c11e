"""The pre-roll: a source's most recent encoded frames, bounded by time.

Why encoded H.264 rather than JPEG or raw frames (measured on this 2-core machine, 1280x720, one
thread): raw BGR frames cost 2.76 MB each, 415 MB for 5 s at 30 FPS; JPEG (q90) costs 3.0 ms to
encode per frame, ~76 kB (11 MB for 5 s), and 5.6 ms more per frame to decode when a clip starts,
plus the H.264 encoding of the clip itself. The H.264 the clip needs anyway costs 3.6 ms (ultrafast)
to 7.7 ms (veryfast) per frame and 2-8 kB: the ring holds about 1-2 MB and a clip's pre-roll is
copied into its MP4 as it is. The price: a clip starts at a keyframe (`keyframe_s` apart), so its
pre-roll is up to one keyframe interval longer than asked.
"""

from __future__ import annotations

from collections import deque

from stages.sinks.clips.encoder import EncodedFrame


class PreRoll:
    """Encoded frames going back at least `horizon_s` from the newest, kept as keyframe intervals (GOPs)."""

    def __init__(self, horizon_s: float) -> None:
        self.horizon_s = horizon_s
        self._gops: deque[list[EncodedFrame]] = deque()
        self.nbytes = 0

    def __len__(self) -> int:
        return sum(len(gop) for gop in self._gops)

    def append(self, frame: EncodedFrame) -> None:
        if frame.key:
            self._gops.append([frame])
        elif self._gops:
            self._gops[-1].append(frame)
        else:
            return  # nothing decodes before the first keyframe
        self.nbytes += len(frame.data)
        oldest_s = frame.pts_s - self.horizon_s
        while len(self._gops) > 1 and self._gops[1][0].pts_s <= oldest_s:
            self.nbytes -= sum(len(f.data) for f in self._gops.popleft())

    def since(self, t_s: float) -> list[EncodedFrame]:
        """The frames from the latest keyframe at or before `t_s` (else the oldest keyframe) to the newest."""
        gops = list(self._gops)
        start = next((i for i in range(len(gops) - 1, -1, -1) if gops[i][0].pts_s <= t_s), 0)
        return [frame for gop in gops[start:] for frame in gop]

    def clear(self) -> None:
        self._gops.clear()
        self.nbytes = 0
