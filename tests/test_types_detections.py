"""Detections: validation, indexing, empty/concat, records."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.types import Detections, Event, EventType


def make(n: int, k: int | None = 17) -> Detections:
    rng = np.random.default_rng(n)
    xy = rng.uniform(0, 100, (n, 2))
    return Detections(
        xyxy=np.hstack([xy, xy + 10]).astype(np.float32),
        score=rng.uniform(0, 1, n).astype(np.float32),
        class_id=np.zeros(n, np.int32),
        keypoints=None if k is None else rng.uniform(0, 1, (n, k, 3)).astype(np.float32),
    )


def test_detections_converts_compatible_dtypes() -> None:
    d = Detections(xyxy=np.zeros((2, 4)), score=np.ones(2), class_id=np.array([1, 2]))
    assert d.xyxy.dtype == np.float32 and d.score.dtype == np.float32 and d.class_id.dtype == np.int32


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"xyxy": np.zeros((2, 3))}, "xyxy: expected shape"),
    ({"score": np.zeros(3)}, "score: has 3 rows"),
    ({"class_id": np.zeros(2, np.float32)}, "class_id: expected int32"),
    ({"keypoints": np.zeros((2, 17, 2))}, "keypoints: expected shape"),
    ({"track_id": np.zeros((2, 1), np.int64)}, "track_id: expected shape"),
])
def test_detections_rejects_bad_columns(kwargs: dict, message: str) -> None:
    base = {"xyxy": np.zeros((2, 4)), "score": np.zeros(2), "class_id": np.zeros(2, np.int32)}
    with pytest.raises(ValueError, match=message):
        Detections(**{**base, **kwargs})


def test_detections_indexing_returns_detections() -> None:
    d = make(5)
    one = d[2]
    assert isinstance(one, Detections) and len(one) == 1
    np.testing.assert_array_equal(one.xyxy[0], d.xyxy[2])
    assert len(d[-1]) == 1 and np.array_equal(d[-1].score, d.score[-1:])
    assert len(d[1:4]) == 3
    mask = d.score > 0.5
    assert len(d[mask]) == int(mask.sum())
    picked = d[[4, 0]]
    np.testing.assert_array_equal(picked.keypoints, d.keypoints[[4, 0]])
    with pytest.raises(IndexError):
        d[np.array([True, False])]


def test_detections_empty_and_concat() -> None:
    empty = Detections.empty(17)
    assert len(empty) == 0 and empty.keypoints.shape == (0, 17, 3)
    both = Detections.concat([make(2), empty, make(3)])
    assert len(both) == 5 and both.keypoints.shape == (5, 17, 3)
    mixed = Detections.concat([make(2), make(1, k=None)])
    assert mixed.keypoints is None and len(mixed) == 3
    assert len(Detections.concat([])) == 0


def test_detections_with_columns_and_records() -> None:
    d = make(3).with_columns(track_id=np.array([7, -1, 9]))
    assert d.track_id.dtype == np.int64
    records = d.to_records()
    assert [r["track_id"] for r in records] == [7, -1, 9]
    assert len(records[0]["keypoints"]) == 17 and len(records[0]["box"]) == 4
    with pytest.raises(ValueError, match="track_id"):
        d.with_columns(track_id=np.array([1, 2]))


def test_event_json_has_id_type_and_payload() -> None:
    event = Event(EventType.TRACK_ENDED, "cam", pts_s=1.23456, track_id=4, payload={"duration_s": 2.0})
    data = event.to_json()
    assert data["type"] == "track_ended" and data["source"] == "cam" and data["track_id"] == 4
    assert data["duration_s"] == 2.0 and data["pts_s"] == 1.235 and len(data["id"]) == 32
    assert "frame_index" not in data
