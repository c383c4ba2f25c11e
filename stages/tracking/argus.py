"""Argus tracker (the default): ByteTrack association plus what measurably helped on MOT data.

On top of `ByteTracker`'s two-stage matching it adds:
- a recovery stage: lost tracks get a second chance against the confident boxes left over, with
  buffered IoU (boxes grown by `recover_buffer`) so a track that drifted while unseen still meets
  its object again instead of being replaced by a new id;
- camera-motion compensation when frames are given (`cmc.py`): track states are warped by the
  global frame-to-frame similarity before prediction;
- frame-rate-aware gating: velocity noise per frame scaled by (30 / fps) ** `rate_exponent` (1.0) and,
  below 30 fps, the low-score IoU gate scaled by (fps / 30) ** `iou_rate_exponent` (1.0): people
  move farther between frames at 10 fps (KITTI, vtest.mp4), so predictions are less certain and a
  continuation overlaps its track less; looser IoU gates (0.1);
- appearance, when detections carry embeddings (`appearance.py`): in stage 1 a track and a box
  whose embeddings clearly disagree are never matched (no id swaps where people cross), and a
  track lost for up to `reid_frames` is re-identified by appearance before a new id is started.
Defaults: score thresholds are read relative to the stream's own score distribution
(`score_mode="range"`, see `scores.py`), so detectors that score people lower or in a narrower
band (yolo11n-pose: small people at 0.5-0.7) are tracked like the one the thresholds were set on;
low-score boxes may continue tracks lost up to `low_lost_frames`; tracks are confirmed on their
first match. The threshold values are those `run.py track tune ../shared/data/mot --trials 60
--folds 2 --seed 0` chose by cross-validation over the MOT15 train sequences (TUD 25 fps, KITTI
10 fps) x the public and four simulated detectors (`simulate.py`), rounded to two decimals.
The frame-rate exponents (before: 0.5 and none) were set after measuring the 10 fps sequences (see
`tune.PREVIOUS_DEFAULTS` and the cross-validated table in docs/guides/tracking.md). No ground truth is used at run time.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from pipeline.types import Detections, FeatureMap
from stages.tracking.appearance import EmbeddingHead, Gallery, normalize
from stages.tracking.association import center_distance_gate, iou_matrix
from stages.tracking.base import EndedTrack, MotionTracker
from stages.tracking.bytetrack import ByteTracker
from stages.tracking.cmc import CameraMotion, warp_tracks
from stages.tracking.kalman import cxcywh_to_xyxy, xyxy_to_cxcywh
from stages.tracking.siamese_sot import SiameseSot


class ArgusTracker(ByteTracker):
    """ByteTrack association + lost-track recovery + camera-motion compensation.

    Args:
        recover_buffer: fraction each box is grown on every side for the recovery stage (0 = off).
        recover_iou: minimum buffered IoU to recover a lost track.
        cmc: estimate camera motion from `image` when it is given to `update`.
        appearance: use detections' embeddings when they have them.
        head: projection applied to the detections' pooled features (None: use them as they are).
        reid_frames: a lost track can be re-identified by appearance for this many frames (tracks
            are kept that long while detections carry embeddings).
        veto_similarity: in stage 1, a track and a box whose cosine similarity is below this are
            never matched.
        reid_similarity: minimum cosine similarity to re-identify a lost track.
        single_object: carry a confirmed track the detector missed with the Siamese single-object
            tracker (`siamese_sot.py`) when `update` gets the frame's feature map; the carried
            boxes are appended to the returned rows (score = the correlation peak, class 0, zero
            keypoints and embedding). Every output then has a bool extra column `carried`: True
            for those rows, False for the detector's (without single_object there is no such
            column).
        sot_min_peak / sot_frames: see `SiameseSot` (min_peak, max_frames).
        appearance_min_hits: once detections carry embeddings, tracks need at least this many
            matches before they get an id (`min_hits` is for motion only).
        reid_radius: re-identification only within this many track diagonals of the predicted
            position, grown by `reid_radius * since / 10` (people walk on while unseen).
        other arguments: see `ByteTracker` and `MotionTracker`.
    """

    SETTINGS = (*ByteTracker.SETTINGS, "recover_buffer", "recover_iou", "reid_frames", "veto_similarity",
                "reid_similarity", "reid_radius", "appearance_min_hits", "_motion_lost_frames",
                "_motion_min_hits", "_motion_low_lost_frames")

    def __init__(self, *, recover_buffer: float = 0.2, recover_iou: float = 0.1, cmc: bool = True,
                 match_iou: float = 0.1, tentative_iou: float = 0.1, rate_exponent: float = 1.0,
                 iou_rate_exponent: float = 1.0,
                 score_mode: str = "range", high_score: float = 0.62, new_track_score: float = 0.63,
                 low_score: float = 0.01, low_match_iou: float = 0.56, low_lost_frames: float = 10,
                 min_hits: int = 1, appearance_min_hits: int = 2,
                 appearance: bool = True, head: EmbeddingHead | None = None, reid_frames: int = 90,
                 veto_similarity: float = 0.3, reid_similarity: float = 0.7, reid_radius: float = 2.0,
                 single_object: bool = False, sot_min_peak: float = 0.6, sot_frames: int = 10,
                 **kwargs: float) -> None:
        super().__init__(match_iou=match_iou, tentative_iou=tentative_iou, rate_exponent=rate_exponent,
                         iou_rate_exponent=iou_rate_exponent,
                         score_mode=score_mode, high_score=high_score, new_track_score=new_track_score,
                         low_score=low_score, low_match_iou=low_match_iou, low_lost_frames=low_lost_frames,
                         min_hits=min_hits, **kwargs)  # type: ignore[arg-type]
        self.recover_buffer = recover_buffer
        self.recover_iou = recover_iou
        self.camera = CameraMotion() if cmc else None
        self.appearance = appearance
        self.head = head
        self.reid_frames = reid_frames
        self.veto_similarity = veto_similarity
        self.reid_similarity = reid_similarity
        self.reid_radius = reid_radius
        self.gallery = Gallery()
        self.sot = SiameseSot(sot_min_peak, sot_frames) if single_object else None
        self.appearance_min_hits = appearance_min_hits
        self._motion_lost_frames = self.lost_frames
        self._motion_min_hits = self.min_hits
        self._motion_low_lost_frames = self.low_lost_frames
        self._seen_embeddings = False
        self._emb: np.ndarray | None = None  # this frame's detection embeddings, unit length
        self._cos: tuple[np.ndarray, np.ndarray] | None = None  # this frame's `_track_embeddings`

    def update(self, detections: Detections, frame_index: int, dt: float | None = None,
               image: np.ndarray | None = None, feature_map: FeatureMap | None = None) -> Detections:
        """Track one frame (see `MotionTracker.update`), with appearance when `detections` has it,
        and single-object tracking of missed tracks when `feature_map` is given."""
        emb = detections.embedding if self.appearance else None
        self._emb = None if emb is None or not len(detections) else (
            self.head(emb) if self.head is not None else normalize(emb))
        self._cos = None
        if emb is not None and not self._seen_embeddings:  # from now on appearance keeps identities
            self._seen_embeddings = True
            self._appearance_settings()
        out = super().update(detections, frame_index, dt, image)
        if self._emb is not None:
            ids = out.track_id
            rows = (ids >= 0) & (out.score >= self._thr[1])  # only confident boxes teach the gallery
            self.gallery.update(ids[rows], self._emb[rows])
        if self.sot is not None:
            out = out.with_columns(carried=np.zeros(len(out), bool))
            if feature_map is not None:
                out = self._carry(out, feature_map, frame_index)
        return out

    def adopt_settings(self, other: MotionTracker) -> None:
        """`MotionTracker.adopt_settings`, plus camera-motion compensation and the single-object
        tracker switched on or off (a tracker switched on starts from the next frame). The
        appearance head is not a setting: a change of it needs a new tracker."""
        super().adopt_settings(other)
        assert isinstance(other, ArgusTracker)
        if self._seen_embeddings:  # see `update`
            self._appearance_settings()
        if (other.camera is None) != (self.camera is None):
            self.camera = CameraMotion() if other.camera is not None else None
        if other.sot is None:
            self.sot = None
        elif self.sot is None:
            self.sot = SiameseSot(other.sot.min_peak, other.sot.max_frames, other.sot.search_margin)
        else:
            self.sot.min_peak, self.sot.max_frames = other.sot.min_peak, other.sot.max_frames
            self.sot.search_margin = other.sot.search_margin

    def _appearance_settings(self) -> None:
        """Once detections carry embeddings: lost tracks are kept `reid_frames` for
        re-identification, a track needs `appearance_min_hits` matches before it gets an id, and
        lost tracks no longer take low-score boxes by IoU (appearance re-identifies them instead).
        Measured with `bench reid`: one-hit tracks and low-score continuations of lost tracks cost
        appearance much of its relinking at 20-40 frame gaps; on motion-only MOT data both help."""
        self.lost_frames = max(self._motion_lost_frames, self.reid_frames)
        self.min_hits = max(self._motion_min_hits, self.appearance_min_hits)
        self.low_lost_frames = 0

    def _carry(self, out: Detections, fmap: FeatureMap, frame_index: int) -> Detections:
        """Remember templates of confident matches; relocate confirmed tracks missed on this frame."""
        assert self.sot is not None
        ids = out.track_id
        sure = (ids >= 0) & (out.score >= self._thr[1])
        self.sot.remember(fmap, ids[sure], out.xyxy[sure])
        t = self.tracks
        missed = np.flatnonzero((t.id >= 0) & (t.since > 0))
        predicted = t.xyxy()
        found = [(row, hit) for row in missed.tolist()
                 if (hit := self.sot.locate(fmap, int(t.id[row]), predicted[row])) is not None]
        if not found:
            return out
        rows = np.array([r for r, _ in found])
        boxes = np.array([box for _, (box, _) in found], np.float32)
        t.correct(rows, xyxy_to_cxcywh(boxes), None, frame_index)
        n = len(rows)
        carried = Detections(
            xyxy=boxes, score=np.array([peak for _, (_, peak) in found], np.float32),
            class_id=np.zeros(n, np.int32), track_id=t.id[rows].copy(),
            keypoints=None if out.keypoints is None else np.zeros((n, *out.keypoints.shape[1:]), np.float32),
            embedding=None if out.embedding is None else np.zeros((n, out.embedding.shape[1]), np.float32),
            extra={"carried": np.ones(n, bool)})
        return Detections.concat([out, carried])

    def pop_ended(self) -> list[EndedTrack]:
        ended = super().pop_ended()
        self.gallery.forget([e.track_id for e in ended])
        if self.sot is not None:
            self.sot.forget([e.track_id for e in ended])
        return ended

    def _track_embeddings(self) -> tuple[np.ndarray, np.ndarray]:
        """(known (T,), (T, N) cosine similarity of every track with every box), computed once per
        frame (stage 1 and re-identification see the same tracks and boxes)."""
        if self._cos is None:
            known, emb = self.gallery.lookup(self.tracks.id)
            cos = emb @ self._emb.T if self._emb is not None and np.count_nonzero(known) else (
                np.zeros((len(known), 0)))
            self._cos = known, cos
        return self._cos

    def _first_stage_similarity(self, iou: np.ndarray) -> np.ndarray:
        """IoU, with pairs whose appearance clearly disagrees set to 0."""
        if self._emb is None:
            return iou
        known, cos = self._track_embeddings()
        if not cos.shape[1]:
            return iou
        veto = known[:, None] & (cos < self.veto_similarity)
        return np.where(veto, 0.0, iou) if veto.any() else iou

    def _compensate(self, image: np.ndarray | None) -> None:
        if self.camera is None or image is None:
            return
        A = self.camera.estimate(image)
        if A is not None and len(self.tracks):
            warp_tracks(self.tracks.mean, self.tracks.var, A)

    def _extra_stages(self, stage: Callable[..., None], boxes: np.ndarray, high: np.ndarray,
                      confirmed: np.ndarray, free_t: np.ndarray, free_d: np.ndarray) -> None:
        """4. recovery of lost tracks (buffered IoU); 5. re-identification (appearance)."""
        lost = self.tracks.since > self._dt + 1e-9
        if not np.count_nonzero(lost):  # no track lost before this frame: nothing to recover
            return
        if self.recover_buffer:
            self._recover(stage, lost & confirmed & free_t, high & free_d)
        if self._emb is not None:  # after recovery: only what it left
            self._reidentify(stage, boxes, lost & confirmed & free_t, high & free_d)

    def _recover(self, stage: Callable[..., None], lost: np.ndarray, cand: np.ndarray) -> None:
        """Lost tracks vs confident boxes left, with buffered IoU."""
        if np.count_nonzero(lost) and np.count_nonzero(cand):
            g = self.recover_buffer
            sim = iou_matrix(cxcywh_to_xyxy(self.tracks.mean, g), cxcywh_to_xyxy(self._cxcywh, g))
            stage(lost, cand, self.recover_iou, sim)

    def _reidentify(self, stage: Callable[..., None], boxes: np.ndarray, lost: np.ndarray,
                    cand: np.ndarray) -> None:
        """Tracks lost for a while vs confident boxes left, by appearance within a motion gate."""
        if not np.count_nonzero(lost) or not np.count_nonzero(cand):
            return
        known, cos = self._track_embeddings()
        if not cos.shape[1]:
            return
        ratio = self.reid_radius * (1.0 + self.tracks.since / 10.0)  # per track
        gate = center_distance_gate(self._pred, boxes, ratio)
        sim = np.where(known[:, None] & gate, cos, 0.0)
        stage(lost, cand, self.reid_similarity, sim)
