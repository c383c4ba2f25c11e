"""How closely a reduced-precision model agrees with its FP32 reference: box recall, class agreement
and, for keypoint models, mean OKS.

Recall: the share of the reference's detections matched by one of the candidate's at IoU >= 0.5
(greedy, best IoU first, one-to-one). Class agreement: the share of matched pairs with the same class.
OKS: COCO's object keypoint similarity of each matched pair, over the reference's visible keypoints,
with the reference box area as scale (1.0 for a model without keypoints).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.types import Detections

# COCO keypoint sigmas (nose, eyes, ears, shoulders, elbows, wrists, hips, knees, ankles).
COCO_SIGMAS = np.array([.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87,
                        .89, .89], dtype=np.float64) / 10.0


@dataclass(frozen=True, slots=True)
class Agreement:
    """recall of the reference's detections, mean OKS and class agreement of matched pairs, and the
    counts behind them."""

    recall: float
    mean_oks: float
    reference: int
    matched: int
    class_agreement: float = 1.0

    def to_json(self) -> dict[str, float | int]:
        return {"recall": round(self.recall, 4), "mean_oks": round(self.mean_oks, 4),
                "class_agreement": round(self.class_agreement, 4), "reference_boxes": self.reference,
                "matched": self.matched}


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in a (N, 4) with every box in b (M, 4), xyxy -> (N, M)."""
    tl = np.maximum(a[:, None, :2], b[None, :, :2])
    br = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(br - tl, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    return inter / (area_a[:, None] + area_b[None, :] - inter + 1e-9)


def match(reference: Detections, candidate: Detections, iou_min: float = 0.5) -> list[tuple[int, int]]:
    """Greedy one-to-one (reference row, candidate row) pairs with IoU >= iou_min, best first."""
    return match_boxes(reference.xyxy, candidate.xyxy, iou_min)


def match_boxes(reference: np.ndarray, candidate: np.ndarray, iou_min: float = 0.5) -> list[tuple[int, int]]:
    """`match` on (N, 4) and (M, 4) xyxy boxes."""
    if len(reference) == 0 or len(candidate) == 0:
        return []
    iou = iou_matrix(np.asarray(reference, np.float64), np.asarray(candidate, np.float64))
    pairs: list[tuple[int, int]] = []
    used_r, used_c = set(), set()
    for flat in np.argsort(-iou, axis=None):
        r, c = divmod(int(flat), iou.shape[1])
        if iou[r, c] < iou_min:
            break
        if r not in used_r and c not in used_c:
            pairs.append((r, c))
            used_r.add(r)
            used_c.add(c)
    return pairs


def oks(ref_kpts: np.ndarray, cand_kpts: np.ndarray, area: float, visible_min: float = 0.5) -> float:
    """OKS of one pair: keypoints (K, 3) x, y, visibility; `area` the reference box area in px²."""
    visible = ref_kpts[:, 2] > visible_min
    if not visible.any():
        return 1.0
    d2 = np.sum((ref_kpts[:, :2] - cand_kpts[:, :2]) ** 2, axis=1)
    sigmas = COCO_SIGMAS if len(ref_kpts) == len(COCO_SIGMAS) else np.full(len(ref_kpts), 0.05)
    e = d2 / (2 * max(area, 1.0) * (2 * sigmas) ** 2)
    return float(np.mean(np.exp(-e[visible])))


def agreement(reference: Sequence[Detections], candidate: Sequence[Detections]) -> Agreement:
    """Recall, mean OKS and class agreement of `candidate` against `reference`, frame by frame."""
    total = matched = same_class = 0
    scores: list[float] = []
    for ref, cand in zip(reference, candidate, strict=True):
        pairs = match(ref, cand)
        total += len(ref.score)
        matched += len(pairs)
        same_class += sum(int(ref.class_id[r] == cand.class_id[c]) for r, c in pairs)
        if ref.keypoints is None or cand.keypoints is None:
            continue
        for r, c in pairs:
            area = float(np.prod(ref.xyxy[r, 2:] - ref.xyxy[r, :2]))
            scores.append(oks(ref.keypoints[r], cand.keypoints[c], area))
    return Agreement(recall=matched / total if total else 1.0,
                     mean_oks=float(np.mean(scores)) if scores else 1.0, reference=total, matched=matched,
                     class_agreement=same_class / matched if matched else 1.0)
