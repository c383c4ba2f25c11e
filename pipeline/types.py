"""Central data types that flow through every Argus pipeline.

`Frame` is one decoded image from one source, `Detections` a struct of arrays over the
objects found in it, `Event` something that happened (a stream opened, a track started)
and `Packet` bundles them while it travels from stage to stage.

Coordinates are pixels in the frame's own image (x right, y down); boxes are
`x1, y1, x2, y2`; keypoints are `x, y, confidence`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from typing import Any

import numpy as np

# Name -> (dtype, trailing shape after N; None = any size in that axis). Optional columns may be None.
_COLUMNS: dict[str, tuple[type, tuple[int | None, ...]]] = {
    "xyxy": (np.float32, (4,)),
    "score": (np.float32, ()),
    "class_id": (np.int32, ()),
    "track_id": (np.int64, ()),
    "keypoints": (np.float32, (None, 3)),
    "embedding": (np.float32, (None,)),
}
_KINDS = {np.float32: "f", np.int32: "iu", np.int64: "iu"}


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded image.

    Attributes:
        source_id: id of the source (camera / file) it came from.
        index: 0-based frame number within that source (counts decoded frames, dropped ones included).
        pts_s: presentation time in seconds since the start of the stream.
        image: (H, W, 3) uint8 BGR.
    """

    source_id: str
    index: int
    pts_s: float
    image: np.ndarray

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])


@dataclass(frozen=True, slots=True)
class Detections:
    """Objects found in one frame, as a struct of arrays over N rows.

    Attributes:
        xyxy: (N, 4) float32 boxes in frame pixels.
        score: (N,) float32 confidence in [0, 1].
        class_id: (N,) int32 class index (0 = person for pose models).
        track_id: (N,) int64 track ids, -1 where a row belongs to no confirmed track; None before tracking.
        keypoints: (N, K, 3) float32 `x, y, confidence` per keypoint (K = 17 for COCO pose), or None.
        embedding: (N, D) float32 appearance embedding per row, or None.

    Arrays of another float/int dtype are converted; wrong shapes or kinds raise ValueError.
    """

    xyxy: np.ndarray
    score: np.ndarray
    class_id: np.ndarray
    track_id: np.ndarray | None = None
    keypoints: np.ndarray | None = None
    embedding: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = None
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            dtype, tail = _COLUMNS[f.name]
            arr = np.asarray(value)
            if arr.dtype.kind not in _KINDS[dtype] and not (arr.size == 0 and arr.dtype.kind == "f"):
                raise ValueError(f"Detections.{f.name}: expected {np.dtype(dtype).name}, got {arr.dtype}")
            arr = arr.astype(dtype, copy=False)
            if arr.size == 0 and arr.ndim == 1 and tail:
                arr = arr.reshape((0, *[t or 0 for t in tail]))
            if arr.ndim != 1 + len(tail) or any(
                t is not None and s != t for s, t in zip(arr.shape[1:], tail, strict=True)
            ):
                want = ", ".join(["N", *[str(t) if t is not None else "*" for t in tail]])
                raise ValueError(f"Detections.{f.name}: expected shape ({want}), got {arr.shape}")
            if n is None:
                n = arr.shape[0]
            elif arr.shape[0] != n:
                raise ValueError(f"Detections.{f.name}: has {arr.shape[0]} rows, xyxy has {n}")
            object.__setattr__(self, f.name, arr)

    def __len__(self) -> int:
        return int(self.xyxy.shape[0])

    def __getitem__(self, index: int | slice | np.ndarray | Sequence[int]) -> Detections:
        """Rows by int, slice, boolean mask or index array; always returns Detections."""
        if isinstance(index, int | np.integer):
            index = slice(int(index), int(index) + 1 or None)
        elif not isinstance(index, slice):
            index = np.asarray(index)
            if index.dtype == bool and index.shape != (len(self),):
                raise IndexError(f"boolean mask of shape {index.shape} for {len(self)} detections")
        return Detections(**{f.name: _take(getattr(self, f.name), index) for f in fields(self)})

    def __iter__(self):
        raise TypeError("iterate over range(len(detections)) and index, or use the arrays directly")

    @classmethod
    def empty(cls, num_keypoints: int | None = None, with_track_id: bool = False) -> Detections:
        """Zero rows; with a (0, K, 3) keypoints column when `num_keypoints` is given."""
        return cls(
            xyxy=np.zeros((0, 4), np.float32),
            score=np.zeros(0, np.float32),
            class_id=np.zeros(0, np.int32),
            track_id=np.zeros(0, np.int64) if with_track_id else None,
            keypoints=None if num_keypoints is None else np.zeros((0, num_keypoints, 3), np.float32),
        )

    @classmethod
    def concat(cls, parts: Sequence[Detections]) -> Detections:
        """Stack rows; an optional column survives only if every part has it."""
        if not parts:
            return cls.empty()
        columns: dict[str, Any] = {}
        for f in fields(cls):
            values = [getattr(p, f.name) for p in parts]
            columns[f.name] = None if any(v is None for v in values) else np.concatenate(values)
        return cls(**columns)

    def with_columns(self, **columns: np.ndarray | None) -> Detections:
        """A copy with some columns replaced (validated like the constructor)."""
        return replace(self, **columns)

    def to_records(self) -> list[dict[str, Any]]:
        """JSON-ready rows: box, score, class_id, track_id (when tracked), keypoints (when present)."""
        rows = []
        for i in range(len(self)):
            row: dict[str, Any] = {
                "box": [round(float(v), 2) for v in self.xyxy[i]],
                "score": round(float(self.score[i]), 4),
                "class_id": int(self.class_id[i]),
            }
            if self.track_id is not None:
                row["track_id"] = int(self.track_id[i])
            if self.keypoints is not None:
                row["keypoints"] = [[round(float(x), 2), round(float(y), 2), round(float(c), 3)]
                                    for x, y, c in self.keypoints[i]]
            rows.append(row)
        return rows


def _take(column: np.ndarray | None, index: Any) -> np.ndarray | None:
    return None if column is None else column[index]


class EventType(StrEnum):
    """Every kind of event Argus emits; sinks persist them, later stages add more."""

    STREAM_OPENED = "stream_opened"
    STREAM_ENDED = "stream_ended"
    STREAM_ERROR = "stream_error"
    STREAM_LOST = "stream_lost"
    STREAM_RECOVERED = "stream_recovered"
    TRACK_STARTED = "track_started"
    TRACK_ENDED = "track_ended"


@dataclass(frozen=True, slots=True)
class Event:
    """Something that happened on a source.

    Attributes:
        type: what happened.
        source_id: the source it happened on.
        pts_s: stream time in seconds, when it is tied to a frame.
        frame_index: the frame it is tied to, if any.
        track_id: the track it concerns, if any.
        payload: JSON-serialisable details (duration, error message, ...).
        wall_time: Unix time when it was created.
        id: unique id (sinks deduplicate by it).
    """

    type: EventType
    source_id: str
    pts_s: float | None = None
    frame_index: int | None = None
    track_id: int | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    wall_time: float = field(default_factory=time.time)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict; None fields are left out."""
        out: dict[str, Any] = {"id": self.id, "type": str(self.type), "source": self.source_id,
                               "wall_time": round(self.wall_time, 3)}
        for key in ("pts_s", "frame_index", "track_id"):
            value = getattr(self, key)
            if value is not None:
                out[key] = round(value, 3) if isinstance(value, float) else value
        out.update(self.payload)
        return out


@dataclass(frozen=True, slots=True)
class FeatureMap:
    """One frame's feature map and how frame pixels map onto it.

    Attributes:
        data: (C, h, w) float32 activations.
        stride: input pixels per feature cell.
        scale / pad_x / pad_y: the letterbox (input pixel = frame pixel * scale + pad).
    """

    data: np.ndarray
    stride: int
    scale: float
    pad_x: float
    pad_y: float

    def to_cells(self, xyxy: np.ndarray) -> np.ndarray:
        """(N, 4) frame-pixel boxes -> (N, 4) float feature-cell coordinates."""
        offset = np.array([self.pad_x, self.pad_y, self.pad_x, self.pad_y])
        return (np.asarray(xyxy, np.float64) * self.scale + offset) / self.stride

    def to_frame(self, cells: np.ndarray) -> np.ndarray:
        """(N, 4) feature-cell boxes -> (N, 4) frame pixels (inverse of `to_cells`)."""
        offset = np.array([self.pad_x, self.pad_y, self.pad_x, self.pad_y])
        return (np.asarray(cells, np.float64) * self.stride - offset) / self.scale


@dataclass(slots=True)
class Packet:
    """What travels between stages: one frame plus everything found on it so far.

    Attributes:
        frame: the decoded frame.
        detections: people/objects found by the model stages (tracked ids filled by the track stage).
        faces: faces found inside `detections` (filled by a face stage), or None.
        events: events raised while processing this frame.
        feature_map: the model stage's feature map of this frame, when a later stage asked for it
            (the single-object tracker); None otherwise.
        timings: stage name -> milliseconds this frame spent in it (its share of a batch).
    """

    frame: Frame
    detections: Detections = field(default_factory=Detections.empty)
    faces: Detections | None = None
    events: list[Event] = field(default_factory=list)
    feature_map: FeatureMap | None = None
    timings: dict[str, float] = field(default_factory=dict)
