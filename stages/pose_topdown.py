"""Top-down pose: the pose model runs on a crop around each person a detector found.

Each person's box is widened by `crop_margin` on every side, grown to the crop's aspect ratio (about
its centre) and resized into a `crop_size` network input (padded grey where it leaves the frame). All
crops of a batch, across frames and streams, go to the engine together. In each crop the pose whose
box best overlaps the person's box (IoU >= `match_iou`) gives that person's keypoints; a person with
no such pose keeps keypoints of confidence 0. Rows of other classes or sets are left as they are.

After a track stage, `refresh_frames: N` runs the model on a tracked person at most every N frames
and carries its keypoints with its box in between (`stages/pose_memory.py`); every row this stage
poses gets `keypoints_age`, the frames since the model saw that person (0: this frame; -1: no pose).

The engine is the same artefact as whole-frame pose at `imgsz` (one INT8 build serves both): its
input size is dynamic, and INT8 ranges do not depend on the input's size.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from engines.agreement import iou_matrix
from pipeline.detection_sets import rows_in
from pipeline.errors import ModelError
from pipeline.types import Detections, Event, Packet
from stages.detect import IN_PLACE, YoloStage
from stages.models.yolo import PAD_VALUE, Letterbox
from stages.pose_memory import PoseMemory, Seen

if TYPE_CHECKING:
    from stages.pose import PoseConfig

MAX_CROPS_PER_CALL = 32  # bounds the input buffer; more people are run in several calls
_Job = tuple[int, int, np.ndarray]  # (packet index in the batch, row, box): a person the model runs on


def person_rows(detections: Detections, rows: np.ndarray) -> np.ndarray:
    """The rows among `rows` that are people: class name `person` where rows are named, else class 0."""
    names = detections.extra.get("class_name")
    if names is not None:
        return rows[names[rows] == "person"]
    return rows[detections.class_id[rows] == 0]


def crop_window(box: np.ndarray, margin: float, aspect: float) -> tuple[float, float, float, float]:
    """(x0, y0, width, height) of the frame region cropped for `box`: widened by `margin` per side,
    then grown about its centre to width / height = `aspect`."""
    x1, y1, x2, y2 = (float(v) for v in box)
    w, h = max(x2 - x1, 1.0) * (1 + 2 * margin), max(y2 - y1, 1.0) * (1 + 2 * margin)
    if w / h > aspect:
        h = w / aspect
    else:
        w = h * aspect
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    return cx - w / 2, cy - h / 2, w, h


class TopDownPoseStage(YoloStage):
    """Keypoints for the people of the set `config.input` (see the module docstring)."""

    def __init__(self, config: PoseConfig) -> None:
        super().__init__(config)
        if not self.adapter.num_keypoints:
            self.close()
            raise ModelError(f"{self._what}: top-down pose (input: {config.input}) needs a pose model; this one "
                             f"has no keypoints")
        self.crop_hw = (int(config.crop_size[0]), int(config.crop_size[1]))
        self._buffer = np.empty((MAX_CROPS_PER_CALL, *self.crop_hw, 3), np.uint8)
        self._memory = PoseMemory()
        self._warm_up()

    def _warm_up(self) -> None:
        """Run crops through the engine now, as `stream` will: OpenVINO compiles a model per call shape on
        first use, 0.9 s on a 2-core CPU, which would otherwise stall the stream when the first people
        appear. With `submit`, every crop is a one-crop request on one model; other engines get one crop
        and two crops in a call."""
        h, w = self.crop_hw
        submit = getattr(self.adapter.engine, "submit", None)
        for size in (1,) if submit is not None else (1, 2):
            blank = np.full((size, h, w, 3), PAD_VALUE, np.uint8)
            tensor = blank if self.adapter.pixel_input else np.ascontiguousarray(
                blank.transpose(0, 3, 1, 2), dtype=np.float32) / np.float32(255)
            if submit is not None:
                self.adapter.engine.result(submit({self._input_name: tensor}, split=True))
            else:
                self.adapter.engine({self._input_name: tensor})

    def _score_min(self, config: PoseConfig) -> float:  # type: ignore[override]
        return config.crop_score_min

    def _in_place(self, config: PoseConfig) -> frozenset[str] | None:  # type: ignore[override]
        """Thresholds, the input set, crop margin and match IoU in place; anything else (a new model,
        crop size or runtime, or whole-frame mode) needs a rebuild."""
        return None if config.input is None else IN_PLACE | {
            "input", "crop_margin", "match_iou", "crop_score_min", "refresh_frames", "refresh_change"}

    def _features_used(self, config: PoseConfig) -> str | None:  # type: ignore[override]
        return None  # the detector gives the rows their embeddings

    def process(self, batch: Sequence[Packet]) -> list[Packet]:
        return list(self.stream(batch))

    def stream(self, packets: Iterable[Packet]) -> Iterator[Packet]:
        """`process` as earlier stages hand packets on (`pipeline/stage_chain.py`): on an engine with
        `submit` (OpenVINO) each packet's crops start running as soon as it arrives, while earlier stages
        still work on the rest of the batch; the packets come out together once every crop is done."""
        batch: list[Packet] = []
        plans: list[list[tuple[int, tuple[str, int] | None, bool]]] = []  # per packet: (row, memory key, fresh)
        scheduled: dict[tuple[str, int], Seen] = {}  # runs planned on earlier frames of this batch
        waiting: list[tuple[list[_Job], list[Letterbox], Any]] = []  # submitted: jobs, crops' boxes, handle
        later: list[_Job] = []  # jobs for an engine without `submit`, run together at the end
        submit = getattr(self.adapter.engine, "submit", None)
        found: dict[tuple[int, int], np.ndarray] = {}
        try:
            for packet in packets:
                batch.append(packet)
                plan, jobs = self._plan(packet, len(batch) - 1, scheduled)
                plans.append(plan)
                if jobs and submit is not None:
                    tensor, boxes = self._crops(batch, jobs, np.empty((len(jobs), *self.crop_hw, 3), np.uint8))
                    waiting.append((jobs, boxes, submit({self._input_name: tensor}, split=True)))
                else:
                    later.extend(jobs)
            for start in range(0, len(later), MAX_CROPS_PER_CALL):
                found.update(self._run(batch, later[start:start + MAX_CROPS_PER_CALL]))
            while waiting:
                jobs, boxes, handle = waiting.pop(0)
                found.update(self._match(batch, jobs, boxes, self.adapter.engine.result(handle)[self._output_name]))
        finally:
            for _, _, handle in waiting:  # after an error: wait for the rest, so their requests go back idle
                with contextlib.suppress(Exception):  # the first error is the one raised
                    self.adapter.engine.result(handle)
        for p, plan in enumerate(plans):
            if plan:
                batch[p].detections = self._fill(batch[p], plan, found, p)
        yield from batch

    def _plan(self, packet: Packet, p: int, scheduled: dict[tuple[str, int], Seen]
              ) -> tuple[list[tuple[int, tuple[str, int] | None, bool]], list[_Job]]:
        """Which people of `packet` (the p-th of the batch) the model sees now: (row, memory key, fresh)
        for each person, and the jobs (p, row, box) of the fresh ones."""
        config: PoseConfig = self.config  # type: ignore[assignment]
        dets, source, frame = packet.detections, packet.frame.source_id, packet.frame.index
        self._memory.sweep(source, frame)
        plan, jobs = [], []
        for row in person_rows(dets, rows_in(dets, config.input)).tolist():
            track = -1 if dets.track_id is None else int(dets.track_id[row])
            key = (source, track) if track >= 0 else None
            box = dets.xyxy[row]
            fresh = key is None or PoseMemory.due(scheduled.get(key) or self._memory.last(key), frame, box,
                                                  config.refresh_frames, config.refresh_change)
            if fresh:
                jobs.append((p, row, box))
                if key is not None:
                    scheduled[key] = Seen(frame, box, pending=True)
            plan.append((row, key, fresh))
        return plan, jobs

    def _fill(self, packet: Packet, plan: list[tuple[int, tuple[str, int] | None, bool]],
              found: dict[tuple[int, int], np.ndarray], p: int) -> Detections:
        """`packet`'s rows with keypoints (confidence 0 where no pose) and `keypoints_age` (frames since
        the pose model saw the person; -1 without keypoints): fresh from `found`, else carried."""
        dets, k = packet.detections, self.adapter.num_keypoints
        keypoints = dets.keypoints if dets.keypoints is not None and dets.keypoints.shape[1] == k else None
        keypoints = np.zeros((len(dets), k, 3), np.float32) if keypoints is None else keypoints.copy()
        age = np.full(len(dets), -1, np.int32)
        for row, key, fresh in plan:  # in frame order: a carried row takes the latest run before it
            if fresh:
                points, seen_on = found.get((p, row)), packet.frame.index
                if key is not None:
                    self._memory.remember(key, seen_on, dets.xyxy[row], points)
            else:
                points, seen_on = self._memory.recall(key, dets.xyxy[row])  # type: ignore[arg-type]
            keypoints[row] = 0.0 if points is None else points
            age[row] = -1 if points is None else packet.frame.index - seen_on
        return dets.with_columns(keypoints=keypoints, keypoints_age=age)

    def end_source(self, source_id: str) -> list[Event]:
        self._memory.forget(source_id)
        return super().end_source(source_id)

    def _run(self, batch: Sequence[Packet], jobs: list[_Job]) -> dict[tuple[int, int], np.ndarray]:
        """Keypoints (K, 3) in frame pixels per (packet, row) of `jobs` whose crop held a matching pose."""
        if not jobs:
            return {}
        tensor, boxes = self._crops(batch, jobs, self._buffer[:len(jobs)])
        return self._match(batch, jobs, boxes, self.adapter.engine({self._input_name: tensor})[self._output_name])

    def _crops(self, batch: Sequence[Packet], jobs: list[_Job],
               crops: np.ndarray) -> tuple[np.ndarray, list[Letterbox]]:
        """The engine's input for `jobs` (each person's crop, written into `crops`) and each crop's place
        in its frame."""
        config: PoseConfig = self.config  # type: ignore[assignment]
        h, w = self.crop_hw
        boxes: list[Letterbox] = []
        for i, (p, _, box) in enumerate(jobs):
            x0, y0, cw, _ = crop_window(box, config.crop_margin, w / h)
            scale = w / cw
            affine = np.array([[scale, 0, -x0 * scale], [0, scale, -y0 * scale]], np.float64)
            cv2.warpAffine(batch[p].frame.image, affine, (w, h), dst=crops[i], flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=(PAD_VALUE,) * 3)
            boxes.append(Letterbox(scale, -x0 * scale, -y0 * scale))
        tensor = crops if self.adapter.pixel_input else np.ascontiguousarray(
            crops[..., ::-1].transpose(0, 3, 1, 2), dtype=np.float32) / np.float32(255)
        return tensor, boxes

    def _match(self, batch: Sequence[Packet], jobs: list[_Job], boxes: list[Letterbox],
               output: np.ndarray) -> dict[tuple[int, int], np.ndarray]:
        """From the model's output for `jobs`' crops: the keypoints of the pose that best overlaps each
        person's box (IoU >= match_iou), by (packet, row)."""
        config: PoseConfig = self.config  # type: ignore[assignment]
        sizes = [(batch[p].frame.height, batch[p].frame.width) for p, _, _ in jobs]
        out: dict[tuple[int, int], np.ndarray] = {}
        for (p, row, box), poses in zip(jobs, self.adapter.postprocess(output, boxes, sizes), strict=True):
            if not len(poses) or poses.keypoints is None:
                continue
            iou = iou_matrix(box[None].astype(np.float64), poses.xyxy.astype(np.float64))[0]
            best = int(np.argmax(iou))
            if iou[best] >= config.match_iou:
                out[(p, row)] = poses.keypoints[best]
        return out
