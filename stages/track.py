"""The `track` stage: gives every detection a stable per-source track id and emits track events.

One tracker per `frame.source_id`, created on that source's first frame and dropped by
`end_source`. The time step passed to the tracker is the difference of frame indices, so skipped
frames (frame_interval, live sources dropping frames) are predicted over correctly.

Track ids are unique per source for the whole run: the stage remembers, per source id, the next
id its trackers would have issued, and a new tracker of that source (after a reconnect, or in a
stage rebuilt by hot reload, see `take_over`) continues from there; ids never restart or repeat.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator

from pipeline.detection_sets import merge_rows, rows_in, set_names
from pipeline.stage import StageConfig
from pipeline.types import Detections, Event, EventType, ModelFacts, Packet
from stages.pose_memory import moved as moved_keypoints
from stages.tracking import make_tracker
from stages.tracking.appearance import EmbeddingHead
from stages.tracking.base import EndedTrack, MotionTracker
from stages.tracking.per_class import PerClassTracker


class TrackConfig(StageConfig):
    """Multi-object tracking of the detections of each source."""

    type: Literal["track"] = "track"
    input: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]+$", description="The detection set to track "
                              "(e.g. `people`); null: every row, as one set. Rows of other sets get no id.")
    class_aware: bool = Field(True, description="One tracker per class (ids unique per source across them): a "
                              "track never continues on a detection of another class. false: one tracker for "
                              "every class of the set.")
    tracker: Literal["sort", "bytetrack", "argus"] = Field(
        "argus", description="Tracking algorithm: `sort` (one-stage IoU), `bytetrack` (two-stage "
        "high/low score IoU) or `argus` (ByteTrack plus lost-track recovery and camera-motion "
        "compensation; the default).")
    lost_frames: int = Field(
        30, ge=0, le=10_000, description="Frames a confirmed track may go unmatched before it "
        "ends (counted in source frames, skipped ones included).")
    min_hits: int | None = Field(
        None, ge=1, le=100, description="Consecutive matched frames before a new track gets an id "
        "(tracks on a source's first frame get one at once). Default: argus 1 (2 once detections carry "
        "appearance embeddings), bytetrack 2, sort 3.")
    high_score: float | None = Field(
        None, ge=0.0, le=1.0, description="Detections at or above this score are matched first; "
        "below it they can only continue existing tracks (bytetrack, argus; default: argus 0.62 read as "
        "`range` (see score_mode), bytetrack 0.6) or are ignored (sort: the minimum score, default 0).")
    low_score: float | None = Field(
        None, ge=0.0, le=1.0, description="Detections below this score are ignored (bytetrack, "
        "argus; default: argus 0.01 in `range`, bytetrack 0.1).")
    new_track_score: float | None = Field(
        None, ge=0.0, le=1.0, description="Minimum score of an unmatched detection to start a "
        "track (bytetrack, argus; default: argus 0.63 in `range`, bytetrack 0.7).")
    score_mode: Literal["absolute", "quantile", "range", "adaptive"] | None = Field(
        None, description="How high_score, low_score and new_track_score are read (bytetrack, argus): "
        "`absolute` = raw detector scores; `range` = positions between the 5th and 95th percentile of the "
        "scores this source has shown so far (0 = 5th, 1 = 95th), so detectors that score people lower "
        "or in a narrower band are tracked alike; `quantile` = quantiles of those scores. Default: argus "
        "range, bytetrack absolute.")
    score_bands: int | None = Field(
        None, ge=1, le=8, description="Height bands for score_mode quantile/range/adaptive (bytetrack, "
        "argus): 1 = one score distribution for all boxes; more = boxes are split by height into this many "
        "equal-count groups and each box is read against boxes of a similar height (for detectors whose "
        "scores grow with a person's size). Default: what the model's recipe says (2 for pose models, "
        "whose scores rise with a person's height, 1 for detectors).")
    match_iou: float | None = Field(
        None, ge=0.0, le=1.0, description="Minimum IoU between a track's predicted box and a "
        "detection to match them (default: sort 0.3, bytetrack 0.2, argus 0.1).")
    low_match_iou: float | None = Field(
        None, ge=0.0, le=1.0, description="Minimum IoU to continue a track with a low-score detection "
        "(bytetrack, argus; default: argus 0.56, bytetrack 0.5).")
    low_lost_frames: int | None = Field(
        None, ge=0, le=1000, description="Tracks unmatched for up to this many frames may still take "
        "low-score detections (bytetrack, argus; default: argus 10 (0 once detections carry appearance "
        "embeddings), bytetrack 0).")
    rate_exponent: float | None = Field(
        None, ge=0.0, le=4.0, description="Kalman velocity noise per frame is scaled by (30 / frame_rate) ** "
        "rate_exponent, as people move farther between frames at low rates (bytetrack, argus; default: "
        "argus 1.0, bytetrack 1.0).")
    iou_rate_exponent: float | None = Field(
        None, ge=0.0, le=4.0, description="Below 30 fps, low_match_iou is scaled by (frame_rate / 30) ** "
        "iou_rate_exponent (bytetrack, argus; default: argus 1.0, bytetrack 0).")
    frame_rate: float | None = Field(
        None, gt=0.0, le=1000.0, description="Frames per second of the sources, used to scale "
        "motion noise (argus). None: estimated from the first two frames' timestamps, else 30.")
    camera_motion: bool = Field(
        False, description="argus: compensate camera motion (pan, shake, zoom) estimated from the "
        "frames with sparse optical flow, for moving cameras; costs about 3-5 ms per frame on a "
        "CPU, so it is off by default (fixed cameras).")

    appearance: bool = Field(
        True, description="argus: use the appearance embeddings the model stage gives each detection "
        "(pose/detect `embeddings: true`, the default): boxes whose appearance clearly differs from a "
        "track are never matched to it, and lost tracks are re-identified by appearance.")
    embedding_head: str | None = Field(
        "builtin", description="argus: learned projection of the pooled features (ONNX from `run.py track "
        "train-embedding`); `builtin` = the head the model's recipe names (yolo11n-pose ships one; models "
        "without one use their raw pooled features), null = raw pooled features.")
    reid_frames: int = Field(
        90, ge=0, le=10_000, description="argus: frames a lost track can be re-identified by appearance "
        "(tracks are kept this long when detections carry embeddings).")
    single_object: bool = Field(
        False, description="argus: carry a confirmed track the detector missed with the Siamese "
        "single-object tracker on the model's feature map (up to 10 frames, while the correlation "
        "peak stays >= 0.6); carried boxes are added to the results. Needs `feature_maps: true` on "
        "the model stage.")

    def needs(self) -> frozenset[str]:
        return frozenset({"boxes"})

    def provides(self) -> tuple[str | None, frozenset[str]]:
        return None, frozenset({"track_ids"})

    def tracker_params(self, frame_rate: float = 30.0, detector: ModelFacts | None = None) -> dict[str, Any]:
        """Keyword arguments for `make_tracker(self.tracker, ...)` for detections of `detector` (the
        model stage's facts, see `per_model_score_bands`); unset knobs keep the tracker's own defaults."""
        params: dict[str, Any] = {"lost_frames": self.lost_frames, "frame_rate": self.frame_rate or frame_rate}
        if self.min_hits is not None:
            params["min_hits"] = self.min_hits
        if self.tracker == "sort":
            extra = {"min_iou": self.match_iou, "min_score": self.high_score}
        else:
            extra = {"high_score": self.high_score, "low_score": self.low_score,
                     "new_track_score": self.new_track_score, "match_iou": self.match_iou,
                     "score_mode": self.score_mode, "low_match_iou": self.low_match_iou,
                     "low_lost_frames": self.low_lost_frames, "score_bands": self.score_bands,
                     "rate_exponent": self.rate_exponent, "iou_rate_exponent": self.iou_rate_exponent}
        params.update({k: v for k, v in extra.items() if v is not None})
        if self.tracker != "sort" and self.score_bands is None:
            params["score_bands"] = per_model_score_bands(detector)
        if self.tracker == "argus":
            params.update(cmc=self.camera_motion, appearance=self.appearance, reid_frames=self.reid_frames,
                          single_object=self.single_object)
        return params

    def check_order(self, earlier: Sequence[StageConfig]) -> str | None:
        """single_object reads the feature maps a model stage before this one must attach."""
        if self.single_object and not any(getattr(stage, "feature_maps", False) for stage in earlier):
            return ("single_object needs feature maps from a model stage before it: set feature_maps: true on "
                    "that pose/detect stage")
        return None

    def head_path(self, detector: ModelFacts | None = None) -> Path | None:
        """The embedding head file to load for detections of `detector`, or None (raw features / no
        appearance)."""
        if self.tracker != "argus" or not self.appearance or self.embedding_head is None:
            return None
        if self.embedding_head == "builtin":
            head = detector.embedding_head if detector is not None else None
            return Path(head) if head else None
        return Path(self.embedding_head).expanduser()

    @field_validator("embedding_head")
    @classmethod
    def _head_exists(cls, value: str | None) -> str | None:
        if value not in (None, "builtin") and not Path(value).expanduser().is_file():
            raise ValueError(f"embedding head not found: {value}")
        return value


def per_model_score_bands(detector: ModelFacts | None) -> int:
    """Score height bands by default for detections of `detector`, from its recipe's facts (1 when no
    model stage ran). The recipes give 2 to pose models, measured on yolo11n-pose, whose scores rise
    steeply with a person's height (vtest.mp4: median 0.33 at 60-90 network px, 0.54 at 100-110, 0.86
    at 160-200): with 2 bands its 0.5-0.7 detections at imgsz 960 got an id 79.5 % of the time against
    67.5 % (fewer tracks, 26 against 29), and on the simulated pose-like detector over the MOT15
    sequences HOTA / IDF1 rose from 46.38 / 63.17 to 47.52 / 65.39; on the MOT15 public detections
    bands lost (46.97 -> 45.44), so detectors keep 1 (docs/guides/tracking.md)."""
    return detector.score_bands if detector is not None else 1


@dataclass
class _SourceState:
    tracker: MotionTracker
    detector: ModelFacts | None = None
    last_index: int | None = None
    first_index: int = 0
    first_frame_pts: float = 0.0
    last_tracked: Detections | None = None  # the packet's detections on the last frame the tracker updated
    first_pts: dict[int, float] = field(default_factory=dict)  # track id -> pts of its first frame
    last_pts: dict[int, float] = field(default_factory=dict)  # track id -> pts of its last frame


class TrackStage:
    """Fills `packet.detections.track_id` and emits TRACK_STARTED / TRACK_ENDED events.

    Besides the `Stage` protocol it has the two optional hooks of hot reload: `take_over` (a
    rebuilt stage continues the old one's track ids) and `reconfigure` (thresholds in place).
    """

    name = "track"
    motion_gated = True  # tracks are not aged while nothing moves (pipeline/motion.py)

    def __init__(self, config: TrackConfig) -> None:
        self.config = config
        self._sources: dict[str, _SourceState] = {}
        self._next_ids: dict[str, int] = {}  # source id -> first id of its next tracker
        self._heads: dict[Path, EmbeddingHead] = {}  # loaded once per file, shared by the trackers
        if config.embedding_head not in (None, "builtin"):
            self._head_for(None)  # a user's head: unreadable files fail at build, not on the first frame

    def process(self, batch: Sequence[Packet]) -> list[Packet]:
        """Track every packet in order (packets of one source must arrive in frame order)."""
        for packet in batch:
            frame = packet.frame
            state = self._sources.get(frame.source_id)
            if state is None:
                tracker = self._new_tracker(self.config, first_id=self._next_ids.get(frame.source_id, 1),
                                            detector=packet.detector)
                state = _SourceState(tracker, packet.detector)
                state.first_index, state.first_frame_pts = frame.index, frame.pts_s
                self._sources[frame.source_id] = state
            elif state.last_index == state.first_index and self.config.frame_rate is None:
                # second frame: now the frame rate is known; the tracker has seen one frame only
                gap = frame.pts_s - state.first_frame_pts
                if gap > 0:
                    fps = (frame.index - state.first_index) / gap
                    state.tracker.set_frame_rate(min(max(fps, 1.0), 1000.0))
            dt = 1.0 if state.last_index is None else max(frame.index - state.last_index, 1)
            if state.last_tracked is not None and self._model_skipped(packet):
                packet.detections = self._moved(state, packet, dt)
                continue
            state.last_index = frame.index
            image = frame.image if self.config.camera_motion else None
            packet.detections, track_ids = self._update(state.tracker, packet, dt, image)
            state.last_tracked = packet.detections
            for track_id in track_ids.tolist():
                if track_id < 0:
                    continue
                if track_id not in state.first_pts:
                    state.first_pts[track_id] = frame.pts_s
                    packet.events.append(Event(EventType.TRACK_STARTED, frame.source_id, frame.pts_s,
                                               frame.index, track_id))
                state.last_pts[track_id] = frame.pts_s
            for ended in state.tracker.pop_ended():
                packet.events.append(self._ended(frame.source_id, state, ended))
        return list(batch)

    def stream(self, packets: Iterable[Packet]) -> Iterator[Packet]:
        """`process`, one packet at a time as earlier stages hand them on (`pipeline/stage_chain.py`)."""
        for packet in packets:
            self.process((packet,))
            yield packet

    def on_still(self, packet: Packet) -> None:
        """A still frame (motion gating) the tracker skips: nothing moved, so no time passes for the
        tracks; the next frame it runs on is one step after this one, and no track ages over the gap."""
        state = self._sources.get(packet.frame.source_id)
        if state is not None:
            state.last_index = packet.frame.index

    def _model_skipped(self, packet: Packet) -> bool:
        """Whether the model of the input set (of every set, without `input`) skipped this frame
        (`every_frames`): its rows are carried."""
        if not packet.skipped:
            return False
        if self.config.input is not None:
            return self.config.input in packet.skipped
        names = set_names(packet.detections)
        return bool(names) and packet.skipped.issuperset(names)

    def _moved(self, state: _SourceState, packet: Packet, dt: float) -> Detections:
        """A frame the model skipped: the input set's rows of the last frame tracked, each tracked box (and
        its keypoints, if it has any) moved `dt` frames on by its track's velocity (rows without a track stay
        put), marked carried. The tracker is left as it was: the next frame the model runs on is predicted
        over the whole gap."""
        assert state.last_tracked is not None
        last = state.last_tracked
        if self.config.input is not None:
            last = last[rows_in(last, self.config.input)]
        predict = getattr(state.tracker, "predicted_boxes", None)
        xyxy, keypoints = last.xyxy, last.keypoints
        if predict is not None and last.track_id is not None and len(last):
            moved = predict(last.track_id, dt)
            xyxy = np.where(np.isnan(moved), last.xyxy, moved).astype(np.float32)
            if keypoints is not None:
                keypoints = np.stack([moved_keypoints(k, old, new) for k, old, new in zip(
                    keypoints, last.xyxy, xyxy, strict=True)])
        rows = last.with_columns(xyxy=xyxy, keypoints=keypoints, carried=np.ones(len(last), bool))
        if self.config.input is None:
            return rows
        mine = np.zeros(len(packet.detections), bool)
        mine[rows_in(packet.detections, self.config.input)] = True
        others = packet.detections[~mine]
        if others.track_id is None:
            others = others.with_columns(track_id=np.full(len(others), -1, np.int64))
        return merge_rows(others, rows)

    def _update(self, tracker: MotionTracker, packet: Packet, dt: float,
                image: Any) -> tuple[Detections, np.ndarray]:
        """The packet's detections with track ids (the input set's rows tracked, other rows -1), and the
        tracked rows' ids."""
        dets, frame = packet.detections, packet.frame
        if self.config.input is None:
            out = tracker.update(dets, frame.index, dt, image, packet.feature_map)
            return out, out.track_id
        rows = rows_in(dets, self.config.input)
        mine = np.zeros(len(dets), bool)
        mine[rows] = True
        tracked = tracker.update(dets[rows], frame.index, dt, image, packet.feature_map)
        others = dets[~mine]
        others = others.with_columns(track_id=np.full(len(others), -1, np.int64))
        return merge_rows(others, tracked), tracked.track_id

    def _head_for(self, detector: ModelFacts | None) -> EmbeddingHead | None:
        path = self.config.head_path(detector)
        if path is None:
            return None
        if path not in self._heads:
            self._heads[path] = EmbeddingHead(path)
        return self._heads[path]

    def _new_tracker(self, config: TrackConfig, first_id: int = 1,
                     detector: ModelFacts | None = None) -> MotionTracker:
        params = config.tracker_params(detector=detector)
        head = self._head_for(detector)
        if head is not None:
            params["head"] = head
        if config.class_aware:
            return PerClassTracker(lambda: make_tracker(config.tracker, first_id=first_id, **params))  # type: ignore
        return make_tracker(config.tracker, first_id=first_id, **params)  # type: ignore[return-value]

    def end_source(self, source_id: str) -> list[Event]:
        """End every remaining track of `source_id` and forget its tracker; a later tracker of
        the same source continues its ids."""
        state = self._sources.pop(source_id, None)
        if state is None:
            return []
        self._next_ids[source_id] = state.tracker.next_id
        ended = state.tracker.finish()
        return [self._ended(source_id, state, e) for e in ended]

    def next_ids(self) -> dict[str, int]:
        """Per source id, the lowest track id not issued yet (ended and live trackers)."""
        marks = dict(self._next_ids)
        for source_id, state in self._sources.items():
            marks[source_id] = max(marks.get(source_id, 1), state.tracker.next_id)
        return marks

    def take_over(self, old: TrackStage) -> None:
        """Hot-reload hook, called on a freshly built stage (before its first `process`) that
        replaces `old`: continue `old`'s track ids per source, so they keep increasing across the
        rebuild. The runner ends `old`'s open tracks itself (`old.end_source`) before the swap."""
        for source_id, next_id in old.next_ids().items():
            self._next_ids[source_id] = max(self._next_ids.get(source_id, 1), next_id)

    def reconfigure(self, config: TrackConfig) -> bool:
        """Hot-reload hook: apply `config` in place when possible and return True; every open track
        goes on. Thresholds (high_score, low_score, new_track_score, score_mode, match_iou,
        low_match_iou, low_lost_frames, lost_frames, min_hits, reid_frames), frame_rate (a set
        value applies at once; back to None keeps each source's current rate), camera_motion and
        single_object (either starts from the next frame) are taken in place. A change of
        `tracker`, `appearance` or `embedding_head` needs a rebuild: returns False and changes
        nothing."""
        old = self.config
        rebuild = ["tracker", "embedding_head", "input", "class_aware"]
        if config.tracker == "argus":
            rebuild.append("appearance")
        if any(getattr(config, key) != getattr(old, key) for key in rebuild):
            return False
        templates: dict[str | None, MotionTracker] = {}  # one per model whose detections are tracked
        for state in self._sources.values():
            model = state.detector.name if state.detector is not None else None
            if model not in templates:
                templates[model] = self._new_tracker(config, detector=state.detector)
            state.tracker.adopt_settings(templates[model])
            if config.frame_rate is not None:
                state.tracker.set_frame_rate(config.frame_rate)
        self.config = config
        return True

    @staticmethod
    def _ended(source_id: str, state: _SourceState, ended: EndedTrack) -> Event:
        first = state.first_pts.pop(ended.track_id, None)
        last = state.last_pts.pop(ended.track_id, first)
        duration = 0.0 if first is None or last is None else round(last - first, 3)
        return Event(EventType.TRACK_ENDED, source_id, last, ended.last_frame, ended.track_id,
                     payload={"duration_s": duration, "frames": ended.hits})

    def close(self) -> None:
        """Forget every source (their id counters are kept, see `next_ids`)."""
        self._next_ids = self.next_ids()
        self._sources.clear()
