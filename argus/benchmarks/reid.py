"""`run.py bench reid`: does appearance (and the single-object tracker) keep ids through detector misses?

There is no ground truth for the shared videos, so this measures one thing that needs none:
1. The pose model runs once over the frames; the motion-only tracker on all detections gives the
   reference tracks.
2. Every reference track long enough gets one gap: its detections are removed for G frames from
   its midpoint (a detector miss or an occlusion of G frames; the rows are known exactly).
3. Each tracker configuration runs on the thinned detections. A gap is *relinked* when the
   person's boxes just before and just after the gap carry the same id. IDF1 against the
   reference over all rows that were not removed shows what the configuration costs elsewhere
   (a wrong re-identification lowers it).
The reference itself comes from a tracker, so it has its own mistakes; they are the same for
every configuration compared.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment
from tqdm import tqdm

from argus.tools.tracking.harvest import pose_stage, video_packets
from pipeline.types import Detections, FeatureMap
from stages.tracking.appearance import DEFAULT_HEAD, EmbeddingHead
from stages.tracking.argus import ArgusTracker

NEW_TRACK_SCORE = 0.5  # the pose model's scores on small people run lower than MOT's Faster R-CNN's
# Every row reads its thresholds as raw scores, so the rows differ only in appearance / single-object.
BASE = {"score_mode": "absolute", "new_track_score": NEW_TRACK_SCORE}
# The reference tracks come from fixed settings (the motion tracker before issue 17: 2 hits for an id,
# no low-score continuation of lost tracks), so a change of the tracker's defaults cannot move them.
REFERENCE = {**BASE, "high_score": 0.6, "low_score": 0.1, "low_match_iou": 0.5, "min_hits": 2,
             "low_lost_frames": 0, "appearance": False}


@dataclass
class _Frame:
    index: int
    detections: Detections
    feature_map: FeatureMap | None


def _configs(head: EmbeddingHead | None, lost_frames: int) -> dict[str, dict[str, Any]]:
    base = dict(BASE)
    configs: dict[str, dict[str, Any]] = {
        "motion": {**base, "appearance": False},
        f"motion, lost_frames={lost_frames}": {**base, "appearance": False, "lost_frames": lost_frames},
        "appearance, no head": {**base, "appearance": True, "veto_similarity": 0.8, "reid_similarity": 0.95},
    }
    if head is not None:
        configs["appearance"] = {**base, "appearance": True, "head": head}
        configs["appearance + single-object"] = {**base, "appearance": True, "head": head,
                                                  "single_object": True}
    configs["motion + single-object"] = {**base, "appearance": False, "single_object": True}
    return configs


def _hide(reference: list[np.ndarray], gap: int, margin: int = 3) -> tuple[list[np.ndarray], list[tuple]]:
    """Rows to keep per frame, and the gaps: (track id, last frame before, first frame after)."""
    spans: dict[int, list[int]] = {}
    for f, ids in enumerate(reference):
        for i in ids[ids >= 0].tolist():
            spans.setdefault(i, []).append(f)
    keep = [np.ones(len(ids), bool) for ids in reference]
    gaps = []
    for track, frames in spans.items():
        if len(frames) < gap + 2 * margin:
            continue
        start = frames[len(frames) // 2 - gap // 2]
        hidden = [f for f in frames if start <= f < start + gap]
        before = [f for f in frames if f < start]
        after = [f for f in frames if f >= start + gap]
        if not before or not after:
            continue
        for f in hidden:
            keep[f] &= reference[f] != track
        gaps.append((track, before[-1], after[0]))
    return keep, gaps


def _idf1(ref: list[np.ndarray], test: list[np.ndarray], keep: list[np.ndarray]) -> float:
    r = np.concatenate([ids[k] for ids, k in zip(ref, keep, strict=True)])
    t = np.concatenate([ids[k] for ids, k in zip(test, keep, strict=True)])
    both = (r >= 0) & (t >= 0)
    ru, ri = np.unique(r[both], return_inverse=True)
    tu, ti = np.unique(t[both], return_inverse=True)
    counts = np.zeros((len(ru), len(tu)))
    np.add.at(counts, (ri, ti), 1)
    rows, cols = linear_sum_assignment(-counts)
    idtp = counts[rows, cols].sum()
    return float(2 * idtp / max(np.count_nonzero(r >= 0) + np.count_nonzero(t >= 0), 1))


def _run(frames: list[_Frame], keep: list[np.ndarray], params: dict[str, Any], fps: float) -> list[np.ndarray]:
    tracker = ArgusTracker(frame_rate=fps, **params)
    out = []
    for fr, k in zip(frames, keep, strict=True):
        det = fr.detections[k]
        ids = np.full(len(k), -1, np.int64)
        fmap = fr.feature_map if params.get("single_object") else None
        ids[k] = tracker.update(det, fr.index, feature_map=fmap).track_id[:len(det)]  # carried rows after
        out.append(ids)
    return out


def bench_reid(video: Path, *, start: int = 400, frames: int = 395, gaps: tuple[int, ...] = (10, 20, 40),
               imgsz: int = 960, fps: float = 10.0, head_path: Path | None = None) -> dict:
    """Relink rate and IDF1 per configuration and gap length on `frames` frames of `video`."""
    head = EmbeddingHead(head_path or DEFAULT_HEAD) if (head_path or DEFAULT_HEAD).is_file() else None
    seen = detect(video, start, frames, imgsz)
    return {"video": str(video), "start": start, **evaluate(seen, gaps, head, fps, imgsz)}


def detect(video: Path, start: int, frames: int, imgsz: int) -> list[_Frame]:
    """The pose model's detections (with embeddings) and feature maps (kept as float16 to halve
    their memory) on frames [start, start + frames) of `video`."""
    pose = pose_stage(imgsz, feature_maps=True)
    try:
        return [_Frame(p.frame.index, p.detections, _half(p.feature_map))
                for p in tqdm(video_packets(video, pose, frames, start), total=frames, desc="detect",
                              unit="frame", leave=False)]
    finally:
        pose.close()


def _half(fmap: FeatureMap | None) -> FeatureMap | None:
    return None if fmap is None else replace(fmap, data=fmap.data.astype(np.float16))


def evaluate(seen: list[_Frame], gaps: tuple[int, ...], head: EmbeddingHead | None, fps: float, imgsz: int,
             configs: dict[str, dict[str, Any]] | None = None) -> dict:
    """Relink rate and IDF1 of each configuration for each gap length on detected frames `seen`."""
    everything = [np.ones(len(f.detections), bool) for f in seen]
    reference = _run(seen, everything, REFERENCE, fps)
    max_gap = max(gaps)
    result: dict[str, Any] = {"frames": len(seen), "imgsz": imgsz, "head": str(head.path) if head else None,
                              "gaps": {}}
    for gap in gaps:
        keep, hidden = _hide(reference, gap)
        rows = {}
        for name, params in (configs or _configs(head, max(30, max_gap + 10))).items():
            began = time.perf_counter()
            test = _run(seen, keep, params, fps)
            ms = 1000 * (time.perf_counter() - began) / max(len(seen), 1)
            relinked = sum(1 for track, before, after in hidden
                           if (kept := _id_of(test, reference, before, track)) >= 0
                           and kept == _id_of(test, reference, after, track))
            rows[name] = {"relinked": round(relinked / max(len(hidden), 1), 3),
                          "idf1": round(_idf1(reference, test, keep), 4), "track_ms_per_frame": round(ms, 3)}
        result["gaps"][str(gap)] = {"tracks_hidden": len(hidden), "configs": rows}
    return result


def _id_of(test: list[np.ndarray], reference: list[np.ndarray], frame: int, track: int) -> int:
    row = np.flatnonzero(reference[frame] == track)
    return int(test[frame][row[0]]) if len(row) else -1
