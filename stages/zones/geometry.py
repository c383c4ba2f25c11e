"""Plane geometry for zones and lines, in frame pixels (x right, y down), numpy only.

Side convention: for a line drawn from its first point P1 to its second P2, `side(p)` is
`cross(P2 - P1, p - P1)`: positive on the right-hand side of someone walking from P1 to P2 as seen on
the image (y down), negative on the left. A line drawn left to right has its right-hand side below it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Point = tuple[float, float]

LEFT_ANKLE, RIGHT_ANKLE = 15, 16  # COCO keypoint indices
ANKLE_CONF = 0.5


def side(a: Point, b: Point, p: Point) -> float:
    """Signed area of (a, b, p): > 0 right of a->b as seen on the image (y down), < 0 left, 0 on it."""
    return (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0])


def segments_intersect(p1: Point, p2: Point, q1: Point, q2: Point) -> bool:
    """Whether segments p1-p2 and q1-q2 share a point (touching ends and collinear overlaps included)."""
    d1, d2 = side(q1, q2, p1), side(q1, q2, p2)
    d3, d4 = side(p1, p2, q1), side(p1, p2, q2)
    if d1 == 0 and d2 == 0:  # collinear: do their extents overlap
        return _overlap(p1, p2, q1, q2)
    return d1 * d2 <= 0 and d3 * d4 <= 0


def _overlap(p1: Point, p2: Point, q1: Point, q2: Point) -> bool:
    return all(max(min(p1[k], p2[k]), min(q1[k], q2[k])) <= min(max(p1[k], p2[k]), max(q1[k], q2[k]))
               for k in (0, 1))


def self_intersection(polygon: Sequence[Point]) -> tuple[int, int] | None:
    """The first pair of non-adjacent edges (i, j) of a closed polygon that touch, or None when simple.
    Edge i runs from point i to point i+1 (the last edge back to point 0)."""
    n = len(polygon)
    edges = [(tuple(polygon[i]), tuple(polygon[(i + 1) % n])) for i in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            if j == i + 1 or (i == 0 and j == n - 1):
                continue  # neighbours share a point by construction
            if segments_intersect(*edges[i], *edges[j]):
                return i, j
    return None


def points_in_polygon(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """(N,) bool: each (x, y) of (N, 2) `points` inside the polygon (M, 2) by the even-odd rule."""
    points = np.asarray(points, np.float64).reshape(-1, 2)
    poly = np.asarray(polygon, np.float64)
    x, y = points[:, 0:1], points[:, 1:2]
    x1, y1 = poly[:, 0], poly[:, 1]
    x2, y2 = np.roll(x1, -1), np.roll(y1, -1)
    straddles = (y1 > y) != (y2 > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        at_x = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
    crossings = straddles & (x < at_x)
    return (crossings.sum(axis=1) % 2) == 1


def anchors(xyxy: np.ndarray, keypoints: np.ndarray | None, kind: str) -> np.ndarray:
    """(N, 2) anchor points of boxes: `center`, `bottom_center`, or `feet` (the mean of the ankle keypoints
    with confidence >= 0.5 where a row has any, else its bottom centre)."""
    xyxy = np.asarray(xyxy, np.float64).reshape(-1, 4)
    cx = (xyxy[:, 0] + xyxy[:, 2]) / 2
    if kind == "center":
        return np.column_stack([cx, (xyxy[:, 1] + xyxy[:, 3]) / 2])
    out = np.column_stack([cx, xyxy[:, 3]])
    if kind == "feet" and keypoints is not None and keypoints.shape[1] > RIGHT_ANKLE:
        ankles = np.asarray(keypoints[:, [LEFT_ANKLE, RIGHT_ANKLE]], np.float64)
        seen = ankles[:, :, 2] >= ANKLE_CONF
        count = seen.sum(axis=1)
        rows = count > 0
        if rows.any():
            summed = (ankles[:, :, :2] * seen[:, :, None]).sum(axis=1)
            out[rows] = summed[rows] / count[rows, None]
    return out


def outside_frame(points: Sequence[Point], width: int, height: int) -> list[Point]:
    """The points that lie outside [0, width] x [0, height]."""
    return [p for p in points if not (0 <= p[0] <= width and 0 <= p[1] <= height)]
