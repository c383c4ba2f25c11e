"""Central data types that flow through every Argus pipeline.

`Frame` is one decoded image from one source, `Detections` a struct of arrays over the
objects found in it, `Event` something that happened (a stream opened, a track started)
and `Packet` bundles them while it travels from stage to stage.

Coordinates are pixels in the frame's own image (x right, y down); boxes are
`x1, y1, x2, y2`; keypoints are `x, y, confidence`.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
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
# names an extra column cannot take: the core columns, the `extra` field itself and the record key "box"
_RESERVED = frozenset({*_COLUMNS, "extra", "box"})
_NO_EXTRA: Mapping[str, np.ndarray] = MappingProxyType({})


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
        extra: named extra per-row columns added by later stages (a face identity, an action label,
            a flag): a read-only mapping name -> array with N rows first, any dtype; text columns
            are object arrays of `str | None` (lists and numpy string arrays are converted).
            Always a mapping after construction (empty when there are none). Names must be
            identifiers other than the core column names, `extra` and `box`.

    Arrays of another float/int dtype are converted; wrong shapes or kinds raise ValueError.
    Add or replace columns with `with_columns`, read any column by name with `column`.
    """

    xyxy: np.ndarray
    score: np.ndarray
    class_id: np.ndarray
    track_id: np.ndarray | None = None
    keypoints: np.ndarray | None = None
    embedding: np.ndarray | None = None
    extra: Mapping[str, np.ndarray] | None = None

    def __post_init__(self) -> None:
        n = None
        for name in _COLUMNS:
            value = getattr(self, name)
            if value is None:
                continue
            dtype, tail = _COLUMNS[name]
            arr = np.asarray(value)
            if arr.dtype.kind not in _KINDS[dtype] and not (arr.size == 0 and arr.dtype.kind == "f"):
                raise ValueError(f"Detections.{name}: expected {np.dtype(dtype).name}, got {arr.dtype}")
            arr = arr.astype(dtype, copy=False)
            if arr.size == 0 and arr.ndim == 1 and tail:
                arr = arr.reshape((0, *[t or 0 for t in tail]))
            if arr.ndim != 1 + len(tail) or any(
                t is not None and s != t for s, t in zip(arr.shape[1:], tail, strict=True)
            ):
                want = ", ".join(["N", *[str(t) if t is not None else "*" for t in tail]])
                raise ValueError(f"Detections.{name}: expected shape ({want}), got {arr.shape}")
            if n is None:
                n = arr.shape[0]
            elif arr.shape[0] != n:
                raise ValueError(f"Detections.{name}: has {arr.shape[0]} rows, xyxy has {n}")
            object.__setattr__(self, name, arr)
        extra = _NO_EXTRA
        if self.extra:
            extra = MappingProxyType({name: _extra_column(name, value, len(self.xyxy))
                                      for name, value in self.extra.items()})
        object.__setattr__(self, "extra", extra)

    @classmethod
    def _build(cls, columns: Mapping[str, np.ndarray | None], extra: dict[str, np.ndarray]) -> Detections:
        """A Detections from columns already valid together, taking ownership of the `extra` dict
        (no checks: the per-frame fast path of indexing and `with_columns`)."""
        out = object.__new__(cls)
        for name, slot in _SLOTS.items():
            slot.__set__(out, columns[name])
        _EXTRA_SLOT.__set__(out, MappingProxyType(extra) if extra else _NO_EXTRA)
        return out

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle and copy support (the read-only `extra` mapping itself cannot be pickled)."""
        return _restore, (tuple(getattr(self, name) for name in _COLUMNS), dict(self.extra))

    def __len__(self) -> int:
        return int(self.xyxy.shape[0])

    def __getitem__(self, index: int | slice | np.ndarray | Sequence[int]) -> Detections:
        """Rows by int, slice, boolean mask or index array; always returns Detections (extra
        columns included)."""
        if isinstance(index, int | np.integer):
            index = slice(int(index), int(index) + 1 or None)
        elif not isinstance(index, slice):
            index = np.asarray(index)
            if index.dtype == bool and index.shape != (len(self),):
                raise IndexError(f"boolean mask of shape {index.shape} for {len(self)} detections")
            if index.ndim != 1 or (index.size and index.dtype.kind not in "biu"):
                raise IndexError(f"index must be a 1-D integer array or boolean mask, got {index.dtype} "
                                 f"of shape {index.shape}")
            if index.size == 0:
                index = index.astype(np.intp)
        columns = {name: None if (col := getattr(self, name)) is None else col[index] for name in _COLUMNS}
        return Detections._build(columns, {name: col[index] for name, col in self.extra.items()})

    def __iter__(self):
        raise TypeError("iterate over range(len(detections)) and index, or use the arrays directly")

    def column(self, name: str) -> np.ndarray | None:
        """The core or extra column `name`, or None when this Detections has no such column."""
        if name in _COLUMNS:
            return getattr(self, name)
        return self.extra.get(name)

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
        """Stack rows. An optional core column survives only if every part has it; an extra column
        present in some parts is filled for the rows of the others with a default by dtype kind:
        bool False, signed int -1, unsigned int its maximum, float NaN, object None."""
        if not parts:
            return cls.empty()
        columns: dict[str, Any] = {}
        for name in _COLUMNS:
            values = [getattr(p, name) for p in parts]
            columns[name] = None if any(v is None for v in values) else np.concatenate(values)
        extra: dict[str, np.ndarray] = {}
        for part in parts:
            for name, col in part.extra.items():
                if name not in extra:
                    extra[name] = np.concatenate([
                        p.extra[name] if name in p.extra else _filler(col, len(p)) for p in parts])
        return cls(**columns, extra=extra)

    def with_columns(self, **columns: np.ndarray | Sequence[Any] | None) -> Detections:
        """A copy with columns replaced or added (validated like the constructor): a core name
        replaces that core column (None drops an optional one), any other name adds or replaces
        an extra column, and None removes that extra column."""
        extra = dict(self.extra)
        core: dict[str, Any] = {}
        added: dict[str, Any] = {}
        for name, value in columns.items():
            if name in _COLUMNS:
                core[name] = value
            elif value is None:
                extra.pop(name, None)
            else:
                added[name] = value
        current = {name: getattr(self, name) for name in _COLUMNS}
        if core:
            return Detections(**{**current, **core}, extra={**extra, **added})
        n = len(self)
        extra.update({name: _extra_column(name, value, n) for name, value in added.items()})
        return Detections._build(current, extra)

    def to_records(self) -> list[dict[str, Any]]:
        """JSON-ready rows: box, score, class_id, track_id (when tracked), keypoints (when the row has any
        of confidence above 0: a top-down pose stage gives other classes none),
        then every extra column under its own name (numbers as Python numbers, floats rounded to
        4 places, NaN and infinities as None, text as str or None, per-row arrays as lists)."""
        extras = [(name, _json_column(col)) for name, col in self.extra.items()]
        # rounded by numpy, whole columns at once: 0.6 -> 0.2 ms a frame of vtest.mp4 (about 9 people with
        # keypoints) against Python's round() per number
        boxes = np.round(self.xyxy.astype(np.float64), 2).tolist()
        scores = np.round(self.score.astype(np.float64), 4).tolist()
        class_ids = self.class_id.tolist()
        track_ids = self.track_id.tolist() if self.track_id is not None else None
        keypoints, posed = None, None
        if self.keypoints is not None:
            kp = self.keypoints.astype(np.float64)
            kp[..., :2] = np.round(kp[..., :2], 2)
            kp[..., 2] = np.round(kp[..., 2], 3)
            keypoints, posed = kp.tolist(), self.keypoints[:, :, 2].any(axis=1).tolist()
        rows = []
        for i in range(len(self)):
            row: dict[str, Any] = {"box": boxes[i], "score": scores[i], "class_id": int(class_ids[i])}
            if track_ids is not None:
                row["track_id"] = int(track_ids[i])
            if keypoints is not None and posed[i]:  # rows with no pose leave it out
                row["keypoints"] = keypoints[i]
            for name, values in extras:
                row[name] = values[i]
            rows.append(row)
        return rows


_SLOTS = {name: Detections.__dict__[name] for name in _COLUMNS}  # slot descriptors of the core columns
_EXTRA_SLOT = Detections.__dict__["extra"]


def _restore(core: tuple[np.ndarray | None, ...], extra: dict[str, np.ndarray]) -> Detections:
    """Unpickle a Detections (see `Detections.__reduce__`)."""
    return Detections._build(dict(zip(_COLUMNS, core, strict=True)), extra)


def _extra_column(name: str, value: Any, n: int) -> np.ndarray:
    """Validate one extra column: an identifier not reserved, N rows; text becomes an object array."""
    if not isinstance(name, str) or not name.isidentifier() or name in _RESERVED:
        raise ValueError(f"Detections: invalid extra column name {name!r} (an identifier other than "
                         f"{', '.join(sorted(_RESERVED))})")
    arr = np.asarray(value)
    if arr.dtype.kind in "US":
        arr = arr.astype(object)
    if arr.ndim == 0:
        raise ValueError(f"Detections.{name}: expected an array with N rows, got a scalar")
    if arr.shape[0] != n:
        raise ValueError(f"Detections.{name}: has {arr.shape[0]} rows, xyxy has {n}")
    return arr


def _filler(like: np.ndarray, n: int) -> np.ndarray:
    """n rows shaped like `like`'s rows, holding the "missing" value of its dtype kind."""
    shape = (n, *like.shape[1:])
    kind = like.dtype.kind
    if kind == "b":
        return np.zeros(shape, bool)
    if kind == "i":
        return np.full(shape, -1, like.dtype)
    if kind == "u":
        return np.full(shape, np.iinfo(like.dtype).max, like.dtype)
    if kind in "fc":
        return np.full(shape, np.nan, like.dtype)
    if kind in "mM":
        return np.full(shape, np.datetime64("NaT") if kind == "M" else np.timedelta64("NaT"), like.dtype)
    if kind == "O":
        return np.full(shape, None, object)
    return np.zeros(shape, like.dtype)


def _json_column(column: np.ndarray) -> list[Any]:
    """One extra column as a list of JSON-ready values, one per row."""
    kind = column.dtype.kind
    if kind in "biu":
        return column.tolist()
    if kind == "f":
        return _json_floats(column.tolist())
    return _json_objects(column.tolist())


def _json_floats(values: Any) -> Any:
    if isinstance(values, list):
        return [_json_floats(v) for v in values]
    return round(values, 4) if math.isfinite(values) else None


def _json_objects(values: Any) -> Any:
    if isinstance(values, list):
        return [_json_objects(v) for v in values]
    return None if values is None else str(values)


class EventType(StrEnum):
    """The core's lifecycle events. Event types are open: plugins register their own names (with
    their payload fields) through `Registry.add_event_type`, and `Event.type` takes any of them."""

    STREAM_OPENED = "stream_opened"
    STREAM_ENDED = "stream_ended"
    STREAM_ERROR = "stream_error"
    STREAM_LOST = "stream_lost"
    STREAM_RECOVERED = "stream_recovered"
    TRACK_STARTED = "track_started"
    TRACK_ENDED = "track_ended"
    STAGE_ERROR = "stage_error"
    SINK_ERROR = "sink_error"
    CONFIG_APPLIED = "config_applied"
    SOURCE_ADDED = "source_added"
    SOURCE_REMOVED = "source_removed"


# keys of `Event.to_json` that a payload can never overwrite
_EVENT_KEYS = frozenset({"id", "type", "source", "wall_time", "pts_s", "frame_index", "track_id"})


@dataclass(frozen=True, slots=True)
class Event:
    """Something that happened on a source.

    Attributes:
        type: what happened: an `EventType` member or any name a plugin registered
            (`Registry.add_event_type`), e.g. "face_recognized", "zone_entered".
        source_id: the source it happened on.
        pts_s: stream time in seconds, when it is tied to a frame.
        frame_index: the frame it is tied to, if any.
        track_id: the track it concerns, if any.
        payload: JSON-serialisable details (duration, error message, ...); its keys must not be
            those of the event itself (`id`, `type`, `source`, `wall_time`, `pts_s`,
            `frame_index`, `track_id`): ValueError.
        wall_time: Unix time when it was created.
        id: unique id (sinks deduplicate by it).
    """

    type: str
    source_id: str
    pts_s: float | None = None
    frame_index: int | None = None
    track_id: int | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    wall_time: float = field(default_factory=time.time)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def __post_init__(self) -> None:
        if not isinstance(self.type, str) or not self.type:
            raise TypeError(f"Event.type must be a non-empty event type name, got {self.type!r}")
        for key in self.payload:
            if key in _EVENT_KEYS:
                raise ValueError(f"Event payload key {key!r} would overwrite the event's own {key!r}")

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict; None fields are left out. The event's own keys always win over the
        payload's (even one added to the payload after construction)."""
        out: dict[str, Any] = {"id": self.id, "type": str(self.type), "source": self.source_id,
                               "wall_time": round(self.wall_time, 3)}
        for key in ("pts_s", "frame_index", "track_id"):
            value = getattr(self, key)
            if value is not None:
                out[key] = round(value, 3) if isinstance(value, float) else value
        for key, value in self.payload.items():
            if key not in _EVENT_KEYS:
                out[key] = value
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


@dataclass(frozen=True, slots=True)
class ModelFacts:
    """What later stages need to know about the model that found a packet's detections, taken from
    the model's recipe (never guessed from its name by a consumer).

    Attributes:
        name: the model (a built-in name, or the file's stem).
        task: "detect" (boxes and classes) or "pose" (boxes and keypoints).
        score_bands: the tracker's default score height bands for this model's scores.
        embedding_head: a learned projection (ONNX) made for this model's pooled features, or None
            (the features are used as they are).
        class_names: class id -> name.
    """

    name: str
    task: str = "detect"
    score_bands: int = 1
    embedding_head: str | None = None
    class_names: Mapping[int, str] = field(default_factory=lambda: MappingProxyType({0: "person"}))


@dataclass(slots=True)
class Packet:
    """What travels between stages: one frame plus everything found on it so far.

    Attributes:
        frame: the decoded frame.
        detections: people/objects found by the model stages (tracked ids filled by the track stage).
        events: events raised while processing this frame.
        feature_map: the model stage's feature map of this frame, when a later stage asked for it
            (the single-object tracker); None otherwise.
        timings: stage name -> milliseconds this frame spent in it (its share of a batch).
        detector: the facts of the model whose detections these are (set by the model stage), so later
            stages pick per-model defaults from its recipe; None when no model stage ran.
        still: nothing moved since the last frame of its stream the models ran on (motion gating): the
            stages marked `motion_gated` skip it, and it keeps that frame's rows.
        skipped: the detection sets whose model skipped this frame (a model stage's `every_frames`): their
            rows are those of the last frame of the stream the model ran on, marked `carried`, and a track
            stage reading such a set moves its tracks' boxes instead of updating them.
        overlays: drawing data stages publish for annotators, by stage id, JSON-ready (the zones stage's
            lines, zones and counts as of this frame).
        drawn: the frame as drawn by outputs, by their drawing settings (read-only arrays): sinks and viewers
            that draw the same settings share one drawing (`stages.annotate.annotate_packet`).
    """

    frame: Frame
    detections: Detections = field(default_factory=Detections.empty)
    events: list[Event] = field(default_factory=list)
    feature_map: FeatureMap | None = None
    timings: dict[str, float] = field(default_factory=dict)
    detector: ModelFacts | None = None
    still: bool = False
    skipped: set[str] = field(default_factory=set)
    overlays: dict[str, Any] = field(default_factory=dict)
    drawn: dict[Any, Any] = field(default_factory=dict)
