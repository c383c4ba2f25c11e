"""The `action` stage: a current action label per tracked person, and action_started/ended events.

Per source, per track: a buffer of the track's recent observations (pts, keypoints, box; rows
carried by the single-object tracker are skipped), trimmed to the window. Every `stride`-th frame
of a track whose buffer covers the window, its window is sampled (features.py); a track with no
row on a frame (missed by the detector, or carried) is still classified there while its recent
observations cover the window (a person who falls often goes unseen for a few frames on the floor, and
the window that confirms the fall comes after the drop); a new track that overlaps a track unseen for
less than a window continues its window and action under the new id (the tracker often loses a person
as they fall); a track whose box jumps farther and faster than a person moves (the tracker gave its id
to someone else) starts a new window; the features of all
windows of all tracks of all sources in a batch are computed together and go through the
classifier in one call, then each
track's hysteresis (hysteresis.py) turns the scores into its current action and events. Rows get
`action` (text, None while the track is younger than the window or no action holds) and
`action_score` (float, NaN when none). A track that ends (its `track_ended` event) or a source that
ends closes the open action (`action_ended`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from pipeline.errors import ModelError
from pipeline.types import Event, EventType, Packet
from stages.actions import rules
from stages.actions.events import ACTION_ENDED, ACTION_STARTED
from stages.actions.features import batch_features, sample_window
from stages.actions.hysteresis import ActionState, Transition
from stages.actions.model import ActionModel, model_path, read_info
from stages.model_stage import ModelRuntime

RULES_WINDOW_S = 1.2
RULES_STEPS = 12
IN_PLACE = frozenset({"enter", "leave", "min_duration_s", "fall_until_up", "stride", "min_keypoint_conf",
                      "thresholds"})


class ActionConfig(ModelRuntime):
    """Classify what each tracked person is doing over a window of pose keypoints."""

    type: Literal["action"] = "action"
    model: str = Field("rules", description="`rules` (no training), `builtin` (the shipped temporal network) "
                       "or a path to an ONNX file from `run.py actions train`.")
    window_s: float | None = Field(None, gt=0.1, le=30.0, description="Window length in seconds; default: "
                                   f"{RULES_WINDOW_S} for rules, the model's own window for a model (a "
                                   "different value is an error).")
    stride: int = Field(1, ge=1, le=100, description="Classify every Nth frame of a track.")
    enter: float = Field(0.6, ge=0.0, le=1.0, description="Score at which a class may start.")
    leave: float = Field(0.4, ge=0.0, le=1.0, description="The current action holds while its score stays "
                         "at or above this.")
    min_duration_s: float = Field(0.3, ge=0.0, le=60.0, description="Seconds a new class must stay on top "
                                  "before it starts (and before an action ends with no successor).")
    fall_until_up: bool = Field(True, description="A `falling` action stays open while the person lies: it "
                                "ends when they get up (the row label reads `lying`).")
    min_keypoint_conf: float = Field(0.3, ge=0.0, le=1.0, description="Keypoints below this confidence "
                                     "count as not seen.")
    backend: Literal["auto", "onnxruntime", "openvino", "tensorrt"] = Field(
        "onnxruntime", description="Runtime for a model (not rules); ONNX Runtime by default: the network "
        "is tiny, so start-up and per-call overhead matter more than throughput.")
    precision: Literal["auto", "fp32"] = Field("auto", description="Action models run in FP32 (auto is fp32).")
    threads: int = Field(1, ge=0, description="CPU threads for the model runtime (0 = all).")
    thresholds: dict[str, float] = Field(default_factory=dict, description="`rules` only: thresholds that "
                                         "replace the defaults by name (the snippet `run.py actions tune` "
                                         "writes; the names and defaults are in docs/guides/actions.md).")

    @model_validator(mode="after")
    def _model_matches(self) -> ActionConfig:
        if self.leave > self.enter:
            raise ValueError(f"leave ({self.leave}) must not exceed enter ({self.enter})")
        if self.model == "rules":
            rules.thresholds(self.thresholds)  # an unknown name: ValueError naming it
            return self
        if self.thresholds:
            raise ValueError(f"thresholds apply to model rules only, not to {self.model}")
        try:
            info = read_info(model_path(self.model))
        except ModelError as exc:
            raise ValueError(str(exc)) from None
        if self.window_s is not None and abs(self.window_s - info.window_s) > 1e-6:
            raise ValueError(f"window_s {self.window_s} does not match the model's window of {info.window_s} s "
                             f"({self.model})")
        return self

    def needs(self) -> frozenset[str]:
        """It reads each tracked person's keypoints over time: keypoints and track ids."""
        return frozenset({"keypoints", "track_ids"})


JUMP_S = 1.0  # box sizes: a step at least this long, and ...
JUMP_SPEED = 3.0  # ... faster than this many box sizes a second, is an identity switch, not a motion


def _jumped(before: np.ndarray, after: np.ndarray, gap_s: float) -> bool:
    """Whether a track's box moved from `before` to `after` in `gap_s` seconds faster than a person
    does (a fall moves the hips about one box size in half a second): the tracker gave the id to
    someone else, and a window across that step would read the jump as a drop."""
    size = float(np.sqrt(max((before[2] - before[0]) * (before[3] - before[1]), 1.0)))
    step = float(np.hypot((after[0] + after[2] - before[0] - before[2]) / 2,
                          (after[1] + after[3] - before[1] - before[3]) / 2)) / size
    return step >= JUMP_S and step >= JUMP_SPEED * max(gap_s, 0.0)


@dataclass
class _Track:
    state: ActionState
    pts: list[float] = field(default_factory=list)
    keypoints: list[np.ndarray] = field(default_factory=list)
    boxes: list[np.ndarray] = field(default_factory=list)
    ticks: int = 0  # frames the track was considered on (with a row, or missing while its window holds)
    last_pts: float = 0.0
    score: float = float("nan")


class ActionStage:
    """See the module doc. Keeps per-source state keyed by source id; never starts threads."""

    name = "action"

    def __init__(self, config: ActionConfig) -> None:
        self.config = config
        self.thresholds = rules.thresholds(config.thresholds)  # rules only; defaults with the config's overrides
        self.model: ActionModel | None = None
        if config.model == "rules":
            self.classes: tuple[str, ...] = rules.CLASSES
            self.window_s = config.window_s or RULES_WINDOW_S
            self.steps = RULES_STEPS
        else:
            self.model = ActionModel(model_path(config.model), config)
            self.classes, self.window_s, self.steps = (self.model.info.classes, self.model.info.window_s,
                                                       self.model.info.steps)
        self._sources: dict[str, dict[int, _Track]] = {}
        self.batched = True  # False: features and model call per window (the benchmark's comparison)

    def _new_state(self) -> ActionState:
        c = self.config
        return ActionState(enter=c.enter, leave=c.leave, min_duration_s=c.min_duration_s,
                           fall_until_up=c.fall_until_up)

    def classify(self, windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, steps, F) windows -> (N, classes) scores and (N,) onsets (seconds before each window's
        end that its top class began; the rules' falls only, 0 otherwise) in one call."""
        if self.model is None:
            return rules.classify_with_onsets(windows, self.window_s, self.thresholds)
        return self.model(windows), np.zeros(len(windows))

    def process(self, batch: Sequence[Packet]) -> list[Packet]:
        keep_s = self.window_s + 2 * self.window_s / max(self.steps - 1, 1)
        jobs: list[tuple[int, int, _Track]] = []  # (packet index, track id, track) of each window
        samples: list = []  # the windows' sampled observations, turned into features in one batch
        for p_i, packet in enumerate(batch):
            det, frame = packet.detections, packet.frame
            tracks = self._sources.setdefault(frame.source_id, {})
            if det.track_id is None or (det.keypoints is None and len(det)):
                continue  # no tracker, or rows without keypoints (an empty frame still ticks the lost tracks)
            carried = det.column("carried")
            observed = det.track_id >= 0 if carried is None else (det.track_id >= 0) & ~carried.astype(bool)
            updated = {int(t) for t in det.track_id[observed]}  # tracks with an observation on this frame
            for row in np.flatnonzero(observed):
                tid = int(det.track_id[row])
                track = tracks.get(tid)
                if track is None:
                    track = tracks[tid] = (self._continued(tracks, updated, det.xyxy[row], frame.pts_s)
                                           or _Track(self._new_state()))
                elif track.pts and _jumped(track.boxes[-1], det.xyxy[row], frame.pts_s - track.pts[-1]):
                    del track.pts[:], track.keypoints[:], track.boxes[:]  # another person now: a new window
                track.pts.append(frame.pts_s)
                track.keypoints.append(det.keypoints[row])
                track.boxes.append(det.xyxy[row])
                track.last_pts = frame.pts_s
                cut = 0
                while cut < len(track.pts) - 1 and track.pts[cut] < frame.pts_s - keep_s:
                    cut += 1
                if cut:
                    del track.pts[:cut], track.keypoints[:cut], track.boxes[:cut]
                self._window_job(p_i, tid, track, frame.pts_s, jobs, samples)
            for tid, track in tracks.items():  # tracks without an observation on this frame
                if tid not in updated and frame.pts_s - track.last_pts < self.window_s:
                    self._window_job(p_i, tid, track, frame.pts_s, jobs, samples)
        step_s = self.window_s / max(self.steps - 1, 1)
        if samples and self.batched:
            scores, onsets = self.classify(batch_features(samples, step_s, self.config.min_keypoint_conf))
        elif samples:  # one window at a time (benchmarks only)
            each = [self.classify(batch_features([one], step_s, self.config.min_keypoint_conf)) for one in samples]
            scores, onsets = np.concatenate([e[0] for e in each]), np.concatenate([e[1] for e in each])
        else:
            scores, onsets = np.zeros((0, len(self.classes)), np.float32), np.zeros(0)
        # per packet: track id -> (label, score) right after that frame's update (a batch may hold
        # several frames of one source: each row shows its own frame's state, not the batch's last)
        shown: list[dict[int, tuple[str | None, float]]] = [{} for _ in batch]
        for (p_i, tid, track), s, onset in zip(jobs, scores, onsets, strict=True):
            packet = batch[p_i]
            frame = packet.frame
            for tr in track.state.update(self.classes, s, frame.pts_s, frame.index, float(onset)):
                packet.events.append(self._event(tr, frame.source_id, frame.pts_s, frame.index, tid))
            label = track.state.display
            track.score = float(s[self.classes.index(label)]) if label in self.classes else float("nan")
            shown[p_i][tid] = (label, track.score)
        for packet, snapshot in zip(batch, shown, strict=True):
            self._label_rows(packet, snapshot)
            self._close_ended(packet)
        return list(batch)

    def _continued(self, tracks: dict[int, _Track], observed: set[int], box: np.ndarray,
                   pts: float) -> _Track | None:
        """The track a new track continues, taken out of `tracks`: one not `observed` on this frame, last
        seen less than one window before `pts`, whose last box overlaps `box` without a jump (the
        tracker often loses a person as they fall and starts a new id on the floor); the nearest of
        those, or None. (Half a window lost one UP-Fall fall at 0.61 s: chosen on the fall set.)"""
        best, best_d = None, float("inf")
        for tid, track in tracks.items():
            if tid in observed or not track.pts or pts - track.last_pts > self.window_s:
                continue
            last = track.boxes[-1]
            overlap = min(last[2], box[2]) > max(last[0], box[0]) and min(last[3], box[3]) > max(last[1], box[1])
            if not overlap or _jumped(last, box, pts - track.last_pts):
                continue
            d = float(np.hypot(*((last[:2] + last[2:]) / 2 - (box[:2] + box[2:]) / 2)))
            if d < best_d:
                best, best_d = tid, d
        return tracks.pop(best) if best is not None else None

    def _window_job(self, p_i: int, tid: int, track: _Track, pts: float, jobs: list, samples: list) -> None:
        """Queue the track's window ending at `pts` when it is a `stride`-th tick and the window holds."""
        track.ticks += 1
        if (track.ticks - 1) % self.config.stride:
            return
        sample = sample_window(np.asarray(track.pts), np.stack(track.keypoints), np.stack(track.boxes),
                               pts, self.window_s, self.steps)
        if sample is not None:
            jobs.append((p_i, tid, track))
            samples.append(sample)

    def _label_rows(self, packet: Packet, snapshot: dict[int, tuple[str | None, float]]) -> None:
        det = packet.detections
        n = len(det)
        labels = np.full(n, None, object)
        conf = np.full(n, np.nan, np.float32)
        tracks = self._sources.get(packet.frame.source_id, {})
        if det.track_id is not None:
            for row in range(n):
                tid = int(det.track_id[row])
                track = tracks.get(tid)
                label, score = snapshot.get(tid) or ((track.state.display, track.score) if track else (None, 0.0))
                if label is not None:
                    labels[row] = label
                    conf[row] = score
        packet.detections = det.with_columns(action=labels, action_score=conf)

    def _close_ended(self, packet: Packet) -> None:
        tracks = self._sources.get(packet.frame.source_id, {})
        for event in list(packet.events):
            if event.type == EventType.TRACK_ENDED and event.track_id in tracks:
                track = tracks.pop(event.track_id)  # type: ignore[arg-type]
                for tr in track.state.close(track.last_pts):
                    packet.events.append(self._event(tr, packet.frame.source_id, packet.frame.pts_s,
                                                     packet.frame.index, event.track_id))

    @staticmethod
    def _event(tr: Transition, source_id: str, pts: float, index: int, track_id: int | None) -> Event:
        kind = ACTION_STARTED if tr.kind == "started" else ACTION_ENDED
        return Event(kind, source_id, pts, index, track_id, payload=tr.payload())

    def reconfigure(self, config: ActionConfig) -> bool:
        """Thresholds, stride and fall_until_up in place (open actions go on); anything else needs a rebuild."""
        if not isinstance(config, ActionConfig) or (
                config.model_dump(exclude=IN_PLACE) != self.config.model_dump(exclude=IN_PLACE)):
            return False
        self.config = config
        self.thresholds = rules.thresholds(config.thresholds)
        for tracks in self._sources.values():
            for track in tracks.values():
                st = track.state
                st.enter, st.leave, st.min_duration_s, st.fall_until_up = (
                    config.enter, config.leave, config.min_duration_s, config.fall_until_up)
        return True

    def end_source(self, source_id: str) -> list[Event]:
        events = []
        for tid, track in self._sources.pop(source_id, {}).items():
            events += [self._event(tr, source_id, track.last_pts, None, tid)  # type: ignore[arg-type]
                       for tr in track.state.close(track.last_pts)]
        return events

    def close(self) -> None:
        if self.model is not None:
            self.model.close()

