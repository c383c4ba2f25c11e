"""What top-down pose remembers of each tracked person between two runs of the pose model.

With `refresh_frames: N` the pose model sees a tracked person at most every N frames, and sooner
when the person's box changes height by more than `refresh_change` (a person bending, sitting down or
falling). In between, the person's last keypoints move and scale with the box: each
keypoint keeps its place relative to the box, x with the box's width and y with its height.

Rows without a track id are not remembered: the pose model sees them on every frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PRUNE_EVERY = 64  # frames of a source between sweeps of people not seen lately


@dataclass
class Seen:
    """The last frame the pose model ran on a person: its box then and the keypoints it gave (None
    when the crop held no pose, or while the result is pending)."""

    frame: int
    box: np.ndarray
    keypoints: np.ndarray | None = None
    pending: bool = False


def height_change(old: np.ndarray, new: np.ndarray) -> float:
    """The relative change of a box's height (0.1 = it grew or shrank 10 %). Width is left out: a
    walking person's box widens and narrows with every stride."""
    return float(abs(max(new[3] - new[1], 1.0) / max(old[3] - old[1], 1.0) - 1.0))


def moved(keypoints: np.ndarray, old: np.ndarray, new: np.ndarray) -> np.ndarray:
    """`keypoints` (K, 3) found in box `old`, carried into box `new` (same place relative to the box;
    confidences kept)."""
    ow, oh = max(old[2] - old[0], 1.0), max(old[3] - old[1], 1.0)
    nw, nh = max(new[2] - new[0], 1.0), max(new[3] - new[1], 1.0)
    out = keypoints.copy()
    out[:, 0] = new[0] + (keypoints[:, 0] - old[0]) * (nw / ow)
    out[:, 1] = new[1] + (keypoints[:, 1] - old[1]) * (nh / oh)
    return out


class PoseMemory:
    """`Seen` per (source, track id); forgets a person not seen for `horizon` frames."""

    def __init__(self, horizon: int = 300) -> None:
        self.horizon = horizon
        self._seen: dict[tuple[str, int], Seen] = {}
        self._swept: dict[str, int] = {}

    def last(self, key: tuple[str, int]) -> Seen | None:
        """The last time the pose model ran on this person, if remembered."""
        return self._seen.get(key)

    @staticmethod
    def due(seen: Seen | None, frame: int, box: np.ndarray, every: int, change: float) -> bool:
        """Whether the pose model should see a person on `frame` given `seen`: never seen, seen `every`
        or more frames ago, its last run found no pose, or its box's height changed by more than `change`."""
        if seen is None or every <= 1 or not 0 <= frame - seen.frame < every:
            return True
        if seen.keypoints is None and not seen.pending:
            return True
        return height_change(seen.box, box) > change

    def remember(self, key: tuple[str, int], frame: int, box: np.ndarray, keypoints: np.ndarray | None) -> None:
        """The pose model ran on this person on `frame`: keypoints (K, 3), or None when its crop held no pose."""
        self._seen[key] = Seen(frame, box.copy(), keypoints)

    def recall(self, key: tuple[str, int], box: np.ndarray) -> tuple[np.ndarray | None, int]:
        """The person's last keypoints carried into `box`, and the frame they were found on."""
        seen = self._seen.get(key)
        if seen is None or seen.keypoints is None:
            return None, -1
        return moved(seen.keypoints, seen.box, box), seen.frame

    def sweep(self, source_id: str, frame: int) -> None:
        """Forget the people of `source_id` not seen for `horizon` frames (every PRUNE_EVERY frames)."""
        if frame - self._swept.get(source_id, -PRUNE_EVERY) < PRUNE_EVERY:
            return
        self._swept[source_id] = frame
        for key in [k for k, s in self._seen.items() if k[0] == source_id and frame - s.frame > self.horizon]:
            del self._seen[key]

    def forget(self, source_id: str) -> None:
        """Drop everything remembered of `source_id` (its stream ended)."""
        self._swept.pop(source_id, None)
        for key in [k for k in self._seen if k[0] == source_id]:
            del self._seen[key]
