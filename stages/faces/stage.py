"""The `face` stage: names each tracked person by voting over the faces seen on its track.

Per batch: pick the tracks worth an attempt (identity not settled, at least `every_n_frames` since
the last attempt, fewer than `max_attempts`, or a face grown by `regrow` since the cap was hit);
crop their head region (pose keypoints; the top of the box without them) or, with `region: frame`,
look at whole frames; run the detector once on all head crops of the batch (all streams together),
align and gate the faces, embed those that pass in one embedder call, match them against the
gallery and vote per track (`voting.py`). Rows get `identity` (a name, `unknown`, or None before
any decision) and `identity_score`; a `face_recognized` event goes out when a track's voted name
first appears or changes. Rows the single-object tracker carried (`carried`) are skipped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field, ValidationInfo, field_validator

from pipeline.types import Event, EventType, Packet
from stages.faces import quality
from stages.faces.embedder import EMBEDDERS
from stages.faces.events import FACE_RECOGNIZED
from stages.faces.gallery import Gallery, GalleryError, Match, check_gallery
from stages.faces.head import head_boxes
from stages.faces.recognizer import FoundFace, Recognizer
from stages.faces.voting import UNKNOWN, TrackVote, VoteRules
from stages.model_stage import ModelRuntime

log = logging.getLogger(__name__)

IN_PLACE = frozenset({"gallery", "every_n_frames", "max_attempts", "regrow", "min_face_px", "min_detector_score",
                      "max_yaw", "min_sharpness", "threshold", "face_margin", "min_votes", "reload_s"})


class FaceConfig(ModelRuntime):
    """Face recognition per tracked person (needs a track stage before it)."""

    type: Literal["face"] = "face"
    embedder: Literal["facenet512"] = Field("facenet512", description="Face embedder (FaceNet-512, "
                                            "Inception-ResNet-v1 trained on VGGFace2).")
    detector: Literal["retinaface"] = Field("retinaface", description="Face detector (RetinaFace-MobileNet0.25, "
                                            "5 landmarks).")
    gallery: str = Field(..., description="Face gallery (SQLite) made with `run.py faces enroll`; new "
                         "enrolments are picked up while running.")
    region: Literal["head", "frame"] = Field("head", description="head: look for the face in each person's "
                                             "head region (pose keypoints, else the top of the box); frame: "
                                             "look on the whole frame and give each face to the person box "
                                             "holding it (pipelines without a pose model).")
    every_n_frames: int = Field(5, ge=1, le=10_000, description="Frames between two attempts on one track.")
    max_attempts: int = Field(10, ge=1, le=1000, description="Attempts per track before it stops looking ...")
    regrow: float = Field(1.5, ge=1.0, le=10.0, description="... until its head grows by this factor (the "
                          "person walked closer): then it gets max_attempts more.")
    min_face_px: int = Field(32, ge=8, le=1000, description="Faces narrower than this (frame px) never vote.")
    min_detector_score: float = Field(0.9, ge=0.0, le=1.0, description="Faces the detector is less sure of "
                                      "never vote.")
    max_yaw: float = Field(0.35, ge=0.0, le=1.0, description="Nose offset from the eye midpoint / eye "
                           "distance above which a face is too turned to vote.")
    min_sharpness: float = Field(100.0, ge=0.0, description="Laplacian variance (aligned face at 64 px) "
                                 "below which a face is too blurred to vote.")
    threshold: float = Field(0.95, gt=0.0, le=2.0, description="Largest embedding distance for a face to "
                             "vote for an enrolled person.")
    face_margin: float = Field(0.1, ge=0.0, le=2.0, description="A face votes only when the runner-up "
                               "person is at least this much farther.")
    min_votes: int = Field(2, ge=1, le=100, description="Agreeing faces needed before a track is named.")
    reload_s: float = Field(2.0, ge=0.1, description="How often the gallery is checked for new enrolments.")
    backend: Literal["auto", "tensorrt", "openvino", "onnxruntime", "torch"] = Field(
        "auto", description="Runtime of both face networks (auto as for pose).")
    precision: Literal["auto", "fp32", "fp16", "bf16"] = Field("auto", description="auto: fp16 on a GPU, "
                                                                "fp32 on a CPU (the face networks have no "
                                                                "INT8 build).")

    @field_validator("gallery")
    @classmethod
    def _gallery_ok(cls, value: str, info: ValidationInfo) -> str:
        info_ = EMBEDDERS[info.data.get("embedder", "facenet512")]
        problem = check_gallery(Path(value).expanduser(), info_.name, info_.version)
        if problem:
            raise ValueError(problem)
        return value

    def needs(self) -> frozenset[str]:
        """It votes per track: the rows must carry track ids (a track stage before it)."""
        return frozenset({"boxes", "track_ids"})

    def gates(self) -> quality.Gates:
        return quality.Gates(min_face_px=self.min_face_px, min_score=self.min_detector_score,
                             max_yaw=self.max_yaw, min_sharpness=self.min_sharpness)

    def rules(self) -> VoteRules:
        return VoteRules(threshold=self.threshold, face_margin=self.face_margin, min_votes=self.min_votes)


@dataclass
class _Track:
    vote: TrackVote = field(default_factory=TrackVote)
    last_attempt: int | None = None
    attempts: int = 0
    capped_at: float = 0.0  # head side when the attempts ran out


@dataclass
class _Attempt:
    packet: Packet
    row: int
    key: tuple[str, int]
    head: np.ndarray
    face: FoundFace | None = None


class FaceStage:
    """See the module docstring. Counters: `stats` (attempts, faces gated out, embedded)."""

    motion_gated = True  # still frames keep the last identities (pipeline/motion.py)

    def __init__(self, config: FaceConfig, recognizer: Recognizer | None = None) -> None:
        self.name = config.id or config.type
        self.config = config
        info = EMBEDDERS[config.embedder]
        try:
            self.gallery = Gallery(Path(config.gallery).expanduser(), info.name, info.version)
        except GalleryError as exc:
            from pipeline.errors import ModelError

            raise ModelError(f"stage 'face': {exc}") from None
        self.recognizer = recognizer or Recognizer(detector_name=config.detector, embedder_name=config.embedder,
                                                   runtime=config, gates=config.gates())
        self.recognizer.gates = config.gates()
        if recognizer is None:
            self.recognizer.warm_up()
        self.rules = config.rules()
        self._tracks: dict[tuple[str, int], _Track] = {}
        self._checked = time.monotonic()
        self.stats = {"attempts": 0, "faces": 0, "gated": 0, "embedded": 0}

    # -- hot reload ---------------------------------------------------------------------------------

    def reconfigure(self, config: FaceConfig) -> bool:
        if not isinstance(config, FaceConfig) or (
                config.model_dump(exclude=IN_PLACE) != self.config.model_dump(exclude=IN_PLACE)):
            return False
        if config.gallery != self.config.gallery:
            info = EMBEDDERS[config.embedder]
            try:
                gallery = Gallery(Path(config.gallery).expanduser(), info.name, info.version)
            except GalleryError:
                return False  # the rebuild reports it
            self.gallery.close()
            self.gallery = gallery
            for track in self._tracks.values():  # names came from the old gallery: vote again
                track.vote, track.attempts, track.capped_at = TrackVote(), 0, 0.0
        self.config = config
        self.recognizer.gates = config.gates()
        self.rules = config.rules()
        return True

    # -- per batch ----------------------------------------------------------------------------------

    def process(self, batch: Sequence[Packet]) -> list[Packet]:
        self._maybe_reload()
        attempts: list[_Attempt] = []
        pending: dict[int, Match] = {}
        for packet in batch:
            self._forget_ended(packet)
            attempts.extend(self._wanted(packet))
        if attempts:
            self._find_faces(batch, attempts)
            good = [a for a in attempts if a.face is not None and a.face.problem is None]
            self.recognizer.embed([a.face for a in good])  # type: ignore[misc]
            self.stats["embedded"] += len(good)
            matches = self.gallery.match(np.stack([a.face.embedding for a in good])) if good else []  # type: ignore
            pending = {id(a): m for a, m in zip(good, matches, strict=True)}
        for packet in batch:  # votes count from the frame of their face on (never labels an earlier frame)
            for attempt in attempts:
                match = pending.get(id(attempt)) if attempt.packet is packet else None
                if match is not None:
                    self._tracks[attempt.key].vote.add(self.rules, match.name, match.distance,
                                                       match.runner_up_distance, attempt.face.weight)  # type: ignore
            self._label(packet)
        return list(batch)

    def _maybe_reload(self) -> None:
        now = time.monotonic()
        if now - self._checked < self.config.reload_s:
            return
        self._checked = now
        try:
            if not self.gallery.changed():
                return
            self.gallery.reload()
        except Exception as exc:  # a writer mid-transaction, a locked file: try again later
            log.warning("face gallery %s: reload failed (%s); keeping the loaded one", self.config.gallery, exc)
            return
        log.info("face gallery %s changed: %d faces of %d people", self.config.gallery, len(self.gallery),
                 len(self.gallery.names()))
        for track in self._tracks.values():  # undecided or unknown tracks look again
            if track.vote.identity in (None, UNKNOWN):
                track.vote = TrackVote()
                track.attempts, track.capped_at = 0, 0.0

    def _forget_ended(self, packet: Packet) -> None:
        for event in packet.events:
            if event.type == EventType.TRACK_ENDED and event.track_id is not None:
                self._tracks.pop((packet.frame.source_id, event.track_id), None)

    def _wanted(self, packet: Packet) -> list[_Attempt]:
        det = packet.detections
        if det.track_id is None or not len(det):
            return []
        carried = det.column("carried")
        heads = head_boxes(det)
        out = []
        frame = packet.frame
        for row, track_id in enumerate(det.track_id.tolist()):
            if track_id < 0 or (carried is not None and bool(carried[row])):
                continue
            key = (frame.source_id, int(track_id))
            track = self._tracks.setdefault(key, _Track())
            if track.vote.settled(self.rules):
                continue
            if track.last_attempt is not None and frame.index - track.last_attempt < self.config.every_n_frames:
                continue
            side = float(heads[row, 2] - heads[row, 0])
            if track.attempts >= self.config.max_attempts:
                if side < track.capped_at * self.config.regrow:
                    continue
                track.attempts, track.capped_at = 0, 0.0
            if side * 0.6 < self.config.min_face_px:  # a face is about 0.6 of the head square: too small
                continue
            track.last_attempt = frame.index
            track.attempts += 1
            if track.attempts >= self.config.max_attempts:
                track.capped_at = side
            out.append(_Attempt(packet, row, key, heads[row]))
        self.stats["attempts"] += len(out)
        return out

    def _find_faces(self, batch: Sequence[Packet], attempts: list[_Attempt]) -> None:
        if self.config.region == "head":
            found = self.recognizer.faces_in_regions([(a.packet.frame.image, a.head) for a in attempts])
            for attempt, face in zip(attempts, found, strict=True):
                attempt.face = face
        else:
            packets = list({id(a.packet): a.packet for a in attempts}.values())
            faces = self.recognizer.faces_in_images([p.frame.image for p in packets], embed_all=False)
            by_packet = {id(p): fs for p, fs in zip(packets, faces, strict=True)}
            for attempt in attempts:
                attempt.face = _face_in_box(by_packet[id(attempt.packet)],
                                            attempt.packet.detections.xyxy[attempt.row])
        for attempt in attempts:
            if attempt.face is not None:
                self.stats["faces"] += 1
                if attempt.face.problem is not None:
                    self.stats["gated"] += 1

    def _label(self, packet: Packet) -> None:
        det = packet.detections
        n = len(det)
        if det.track_id is None or n == 0:
            return
        identity = np.full(n, None, dtype=object)
        score = np.full(n, np.nan, dtype=np.float32)
        frame = packet.frame
        for row, track_id in enumerate(det.track_id.tolist()):
            track = self._tracks.get((frame.source_id, int(track_id))) if track_id >= 0 else None
            if track is None or track.vote.identity is None:
                continue
            vote = track.vote
            identity[row], score[row] = vote.identity, vote.score
            if vote.identity != UNKNOWN and vote.identity != vote.announced:
                payload = {"name": vote.identity, "confidence": vote.score, "faces": vote.counts[vote.identity],
                           "faces_seen": vote.faces}
                if vote.announced is not None:
                    payload["previous"] = vote.announced
                packet.events.append(Event(FACE_RECOGNIZED, frame.source_id, frame.pts_s, frame.index,
                                           int(track_id), payload=payload))
                vote.announced = vote.identity
        packet.detections = det.with_columns(identity=identity, identity_score=score)

    def end_source(self, source_id: str) -> list[Event]:
        for key in [k for k in self._tracks if k[0] == source_id]:
            del self._tracks[key]
        return []

    def close(self) -> None:
        self.recognizer.close()
        self.gallery.close()


def _face_in_box(faces: list[FoundFace], box: np.ndarray) -> FoundFace | None:
    """The largest face whose centre lies in the upper 60 % of the person box."""
    x1, y1, x2, y2 = box
    best, best_w = None, 0.0
    for face in faces:
        cx, cy = (face.box[0] + face.box[2]) / 2, (face.box[1] + face.box[3]) / 2
        if x1 <= cx <= x2 and y1 <= cy <= y1 + 0.6 * (y2 - y1) and face.width > best_w:
            best, best_w = face, face.width
    return best
