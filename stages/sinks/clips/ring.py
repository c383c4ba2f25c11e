"""The pre-roll: a source's most recent encoded frames, bounded by time.

Why encoded H.264 rather than JPEG or raw frames (measured on this 2-core machine, 1280x720, one
thread): the ring spans pre_s + keyframe_s + EVENT_LAG_S (9 s for pre_s 5), 270 frames at 30 FPS.
Raw BGR frames are 2.76 MB each: 750 MB per source. JPEG (q90) costs 3.0 ms per frame to encode and
~76 kB (20 MB per source), then 5.6 ms per frame to decode when a clip starts, plus the clip's own
H.264 encoding. Encoding the H.264 the clip needs anyway as frames arrive costs 7-10 ms per frame
(superfast; 5 ms ultrafast) and holds 1.4-2.6 MB per source (a still lab scene and a busy street),
and a clip's pre-roll is copied into its MP4 as it is: no burst of work at a trigger, no second
encoding. The price: a clip starts at a keyframe (`keyframe_s` apart), so its pre-roll can be up to
one keyframe interval longer than asked.
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
