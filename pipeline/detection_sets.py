"""Named detection sets: which model stage found each row of a packet's detections.

A packet keeps one `Detections` table; the extra column `set` (text) names the set each row belongs to
(`people`, `objects`, ...). A model stage replaces the rows of the set it writes and leaves the others;
a later stage reads the rows of one set (`input:`) or every row (`input: null`), and writes its columns
back onto the same rows. One table keeps every existing consumer (sinks, annotators, the Ray wire)
working on all rows at once, and `detections.jsonl` shows each row's set under `set`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pipeline.types import Detections

SET_COLUMN = "set"


def set_names(detections: Detections) -> list[str]:
    """The sets present in `detections`, in order of first appearance."""
    column = detections.extra.get(SET_COLUMN)
    if column is None:
        return []
    return list(dict.fromkeys(v for v in column.tolist() if v is not None))


def rows_in(detections: Detections, name: str | None) -> np.ndarray:
    """Indices of the rows of set `name` (every row when `name` is None)."""
    if name is None:
        return np.arange(len(detections))
    column = detections.extra.get(SET_COLUMN)
    if column is None:
        return np.zeros(0, np.intp)
    return np.flatnonzero(column == name)


def in_sets(detections: Detections, names: Sequence[str] | None) -> Detections:
    """The rows of the sets `names`, in table order (every row when `names` is None)."""
    if names is None:
        return detections
    column = detections.extra.get(SET_COLUMN)
    if column is None:
        return detections[np.zeros(len(detections), bool)]
    return detections[np.isin(column, list(names))]


def tag(detections: Detections, name: str) -> Detections:
    """`detections` with every row marked as belonging to set `name`."""
    return detections.with_columns(**{SET_COLUMN: np.full(len(detections), name, dtype=object)})


def replace_set(detections: Detections, name: str, new: Detections) -> Detections:
    """The rows of every other set, then `new` as set `name` (its previous rows are dropped)."""
    new = tag(new, name)
    column = detections.extra.get(SET_COLUMN)
    if not len(detections) or column is None:
        return new
    return merge_rows(detections[column != name], new)


def merge_rows(first: Detections, second: Detections) -> Detections:
    """The rows of `first` then those of `second`, keeping the optional columns only one of them has
    (see `_aligned`)."""
    if not len(first):
        return second
    return Detections.concat(_aligned([first, second]))


def _aligned(parts: list[Detections]) -> list[Detections]:
    """Parts given the optional core columns that only some of them have, so `concat` keeps them:
    track_id -1 (no track), keypoints of confidence 0 (none seen); an embedding only when every part's
    has the same width (models embed differently: the others lose theirs)."""
    out = list(parts)
    for name, fill in (("track_id", -1), ("keypoints", 0.0), ("embedding", 0.0)):
        present = [getattr(p, name) for p in out if getattr(p, name) is not None]
        if not present or len(present) == len(out):
            continue
        tails = {col.shape[1:] for col in present}
        if len(tails) != 1:
            continue
        tail = tails.pop()
        out = [p if getattr(p, name) is not None else p.with_columns(
            **{name: np.full((len(p), *tail), fill, present[0].dtype)}) for p in out]
    return out
