"""Detections: validation, indexing, empty/concat, records, extra columns."""

from __future__ import annotations

import copy
import json
import math
import pickle

import numpy as np
import pytest

from pipeline.types import Detections


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



def test_detections_extra_columns_validated_and_read_only() -> None:
    d = make(3, k=None)
    assert len(d.extra) == 0 and d.column("identity") is None
    tagged = Detections(xyxy=d.xyxy, score=d.score, class_id=d.class_id,
                        extra={"identity": ["ann", None, "bob"], "carried": np.array([True, False, False])})
    assert tagged.extra["identity"].dtype == object
    assert tagged.extra["identity"].tolist() == ["ann", None, "bob"]
    assert tagged.column("carried").dtype == bool and tagged.column("score") is tagged.score
    with pytest.raises(TypeError):
        tagged.extra["carried"] = np.zeros(3, bool)  # type: ignore[index]
    assert Detections(xyxy=d.xyxy, score=d.score, class_id=d.class_id,
                      extra={"tag": np.array(["a", "b", "c"])}).extra["tag"].dtype == object
    with pytest.raises(ValueError, match="identity: has 2 rows, xyxy has 3"):
        d.with_columns(identity=["ann", "bob"])
    for bad in ("box", "extra", "not-an-identifier", "2nd"):
        with pytest.raises(ValueError, match="invalid extra column name"):
            d.with_columns(**{bad: np.zeros(3)})
    for core in ("score", "track_id"):  # a core name in `extra` clashes
        with pytest.raises(ValueError, match=f"invalid extra column name '{core}'"):
            Detections(xyxy=d.xyxy, score=d.score, class_id=d.class_id, extra={core: np.zeros(3)})
    with pytest.raises(ValueError, match="scalar"):
        d.with_columns(flag=np.bool_(True))


def test_detections_with_columns_core_extra_and_removal() -> None:
    d = make(3).with_columns(action=["walk", "run", None], speed=np.array([1.0, 2.0, 3.0]))
    assert set(d.extra) == {"action", "speed"}
    tracked = d.with_columns(track_id=np.array([4, 5, 6]))  # core replacement keeps the extras
    assert tracked.track_id.tolist() == [4, 5, 6] and tracked.extra["action"].tolist() == ["walk", "run", None]
    replaced = tracked.with_columns(speed=np.array([9, 8, 7], np.int16), action=None)
    assert set(replaced.extra) == {"speed"} and replaced.extra["speed"].dtype == np.int16
    assert set(tracked.extra) == {"action", "speed"}  # the original is untouched
    assert replaced.with_columns(missing=None).extra.keys() == replaced.extra.keys()
    both = d.with_columns(score=np.array([0.1, 0.2, 0.3]), flag=np.array([True, True, False]))
    np.testing.assert_allclose(both.score, [0.1, 0.2, 0.3])
    assert both.extra["flag"].tolist() == [True, True, False]


def test_detections_extra_kept_through_indexing() -> None:
    d = make(4).with_columns(name=["a", "b", "c", None], emb2=np.arange(8.0).reshape(4, 2))
    assert d[2].extra["name"].tolist() == ["c"]
    assert d[-1].extra["name"].tolist() == [None]
    assert d[1:3].extra["emb2"].tolist() == [[2.0, 3.0], [4.0, 5.0]]
    assert d[np.array([True, False, False, True])].extra["name"].tolist() == ["a", None]
    assert d[[3, 0]].extra["name"].tolist() == [None, "a"]
    assert len(d[[]]) == 0 and d[[]].extra["emb2"].shape == (0, 2)
    with pytest.raises(IndexError):
        d[np.array([[0, 1]])]
    with pytest.raises(IndexError):
        d[np.array([0.5])]


def test_detections_concat_fills_missing_extra_by_kind() -> None:
    a = make(2).with_columns(flag=np.array([True, True]), count=np.array([3, 4], np.int32),
                             small=np.array([7, 8], np.uint8), speed=np.array([0.5, 1.5], np.float32),
                             name=["x", "y"], vec=np.ones((2, 3)))
    b = make(1)
    both = Detections.concat([b, a, Detections.empty(17)])
    assert len(both) == 3 and both.keypoints.shape == (3, 17, 3)
    assert both.extra["flag"].tolist() == [False, True, True]
    assert both.extra["count"].tolist() == [-1, 3, 4] and both.extra["count"].dtype == np.int32
    assert both.extra["small"].tolist() == [255, 7, 8]
    assert math.isnan(both.extra["speed"][0]) and both.extra["speed"][1:].tolist() == [0.5, 1.5]
    assert both.extra["name"].tolist() == [None, "x", "y"]
    assert both.extra["vec"].shape == (3, 3) and np.isnan(both.extra["vec"][0]).all()
    assert Detections.concat([b, make(2)]).extra == {}


def test_detections_to_records_writes_extra_columns_as_json() -> None:
    d = make(2, k=None).with_columns(
        track_id=np.array([1, 2]), carried=np.array([False, True]), identity=np.array(["ann", None], object),
        speed=np.array([1.234567, np.nan]), count=np.array([3, -1], np.int64), pair=np.array([[0.5, np.inf], [1, 2]]))
    records = d.to_records()
    assert records[0]["carried"] is False and records[1]["carried"] is True
    assert records[0]["identity"] == "ann" and records[1]["identity"] is None
    assert records[0]["speed"] == 1.2346 and records[1]["speed"] is None
    assert records[0]["count"] == 3 and type(records[0]["count"]) is int
    assert records[0]["pair"] == [0.5, None] and records[1]["pair"] == [1.0, 2.0]
    assert list(records[0]) == ["box", "score", "class_id", "track_id", "carried", "identity", "speed", "count", "pair"]
    json.dumps(records, allow_nan=False)  # strict JSON: no numpy scalars, no NaN


def test_detections_pickle_and_copy_keep_extra_columns() -> None:
    d = make(2).with_columns(track_id=np.array([1, 2]), identity=["ann", None])
    for clone in (pickle.loads(pickle.dumps(d)), copy.deepcopy(d), copy.copy(d)):
        assert clone.extra["identity"].tolist() == ["ann", None] and clone.track_id.tolist() == [1, 2]
        np.testing.assert_array_equal(clone.keypoints, d.keypoints)
        with pytest.raises(TypeError):
            clone.extra["identity"] = np.array(["x", "y"], object)  # type: ignore[index]
    assert pickle.loads(pickle.dumps(make(1, k=None))).extra == {}
