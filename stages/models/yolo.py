"""YOLO (ultralytics-format) detection and pose adapter: letterbox in, boxes/keypoints out.

Backend-independent numpy code shared by every engine (ONNX Runtime, OpenVINO, TensorRT,
PyTorch), so backends can be compared output for output. The model's single output is
(B, 4 + num_classes + K*3, anchors): box centre/size in input pixels, class scores, then
K keypoints as x, y, visibility (already sigmoid-activated by the export).
"""

from __future__ import annotations

import ast
import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from engines.base import Engine
from pipeline.errors import ModelError
from pipeline.types import Detections
from stages.models.feature_taps import FEATURE_PREFIX

PAD_VALUE = 114


@dataclass(frozen=True, slots=True)
class Letterbox:
    """How an image was resized and padded into the network input: input = image * scale + pad."""

    scale: float
    pad_x: float
    pad_y: float


def rect_input_shape(height: int, width: int, imgsz: int, stride: int = 32) -> tuple[int, int]:
    """Network input (H, W) for an image: long side `imgsz`, short side rounded up to `stride`.

    This is ultralytics' rect mode: a 4:3 frame gives 480x640, a 16:9 frame 384x640.
    """
    scale = imgsz / max(height, width)
    return (math.ceil(round(height * scale, 6) / stride) * stride,
            math.ceil(round(width * scale, 6) / stride) * stride)


AUTO_SIDES = (640, 1280)  # `imgsz: auto`: 3/4 of the frame's long side, kept between these
# YOLOv8n person recall on TUD-Campus's 640x480 frames (bench detection's input-size study, IoU 0.5, 359
# people) by input long side: 416 (0.65 of the frame) 0.847, 480 (0.75) 0.866, 576 0.886, 640 0.875: the
# network may shrink a frame to 3/4 without losing people, not much further.
AUTO_SCALE = 0.75


def auto_imgsz(height: int, width: int, stride: int = 32, sides: tuple[int, int] = AUTO_SIDES) -> int:
    """The network's long side for `imgsz: auto`: 3/4 of the frame's long side rounded up to `stride`,
    at least sides[0] (small frames are enlarged, so their small people grow) and at most sides[1] (the
    cost of a big camera stays bounded). 480x360 and 768x576 cameras get 640, 720p 960, 1080p 1280."""
    scaled = math.ceil(max(height, width) * AUTO_SCALE / stride) * stride
    return min(max(scaled, sides[0]), sides[1])


def _fit(image: np.ndarray, h: int, w: int) -> tuple[int, int, Letterbox]:
    """Where `image` goes in an (h, w) input keeping its aspect ratio, centred: its resized width and
    height, and the letterbox (scale, left and top padding)."""
    scale = min(h / image.shape[0], w / image.shape[1])
    new_w, new_h = round(image.shape[1] * scale), round(image.shape[0] * scale)
    top, left = round((h - new_h) / 2 - 0.1), round((w - new_w) / 2 - 0.1)
    return new_w, new_h, Letterbox(scale, float(left), float(top))


def letterbox_into(image: np.ndarray, out: np.ndarray) -> Letterbox:
    """Resize `image` (H, W, 3 uint8 BGR) to fit `out` (3, h, w float32), pad with grey, RGB, 0..1."""
    new_w, new_h, box = _fit(image, *out.shape[1:])
    resized = image if (new_w, new_h) == (image.shape[1], image.shape[0]) else cv2.resize(
        image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    rows, cols = slice(int(box.pad_y), int(box.pad_y) + new_h), slice(int(box.pad_x), int(box.pad_x) + new_w)
    out.fill(PAD_VALUE / 255.0)
    for c in range(3):  # BGR -> RGB while converting to float
        np.multiply(resized[:, :, 2 - c], 1 / 255.0, out=out[c, rows, cols], casting="unsafe")
    return box


def letterbox_pixels_into(image: np.ndarray, out: np.ndarray) -> Letterbox:
    """Resize `image` (H, W, 3 uint8 BGR) to fit `out` (h, w, 3 uint8), pad with grey; still BGR 0..255
    (for an engine that normalises inside its graph: same geometry as `letterbox_into`)."""
    new_w, new_h, box = _fit(image, *out.shape[:2])
    top, left = int(box.pad_y), int(box.pad_x)
    bottom, right = top + new_h, left + new_w
    out[:top], out[bottom:], out[top:bottom, :left], out[top:bottom, right:] = (PAD_VALUE,) * 4
    if (new_w, new_h) == (image.shape[1], image.shape[0]):
        out[top:bottom, left:right] = image
    else:  # resized straight into its place: OpenCV writes into the strided view
        place = out[top:bottom, left:right]
        resized = cv2.resize(image, (new_w, new_h), dst=place, interpolation=cv2.INTER_LINEAR)
        if not np.shares_memory(resized, out):  # an OpenCV build that would not: copy it in
            place[...] = resized
    return box


def letterbox_batch(images: Sequence[np.ndarray], hw: tuple[int, int], *, pixels: bool = False,
                    out: np.ndarray | None = None) -> tuple[np.ndarray, list[Letterbox]]:
    """Images (H, W, 3 BGR uint8) -> batch (B, 3, h, w) float32 RGB 0..1 and their letterboxes; with
    `pixels`, a batch (B, h, w, 3) of uint8 BGR for an engine that normalises in its graph (written into
    `out` when given: a reused buffer of that shape; `out` is ignored for the float batch)."""
    if pixels:
        batch = out if out is not None else np.empty((len(images), *hw, 3), dtype=np.uint8)
        return batch, [letterbox_pixels_into(img, batch[i]) for i, img in enumerate(images)]
    batch = np.empty((len(images), 3, *hw), dtype=np.float32)
    return batch, [letterbox_into(img, batch[i]) for i, img in enumerate(images)]


def nms(boxes: np.ndarray, scores: np.ndarray, iou_max: float) -> np.ndarray:
    """Greedy non-maximum suppression. boxes (N, 4) xyxy, scores (N,). Returns kept indices, best first."""
    order = np.argsort(-scores, kind="stable")
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        xx1 = np.maximum(boxes[i, 0], boxes[rest, 0])
        yy1 = np.maximum(boxes[i, 1], boxes[rest, 1])
        xx2 = np.minimum(boxes[i, 2], boxes[rest, 2])
        yy2 = np.minimum(boxes[i, 3], boxes[rest, 3])
        inter = np.clip(xx2 - xx1, 0, None) * np.clip(yy2 - yy1, 0, None)
        iou = inter / (areas[i] + areas[rest] - inter + 1e-9)
        order = rest[iou <= iou_max]
    return np.asarray(keep, dtype=np.int64)


class YoloAdapter:
    """Pre/post-processing for one ultralytics-exported detection or pose model.

    Args:
        engine: the loaded model (any backend); must have one (B, 3, H, W) float input, or one uint8
            (B, H, W, 3) input of BGR pixels when the engine normalises in its graph, and one output.
        imgsz: long side of the network input; None: chosen per frame size (`auto_imgsz`).
        score_min: drop detections scoring below this.
        iou_max: NMS IoU threshold.
        max_det: most detections kept per image.
        classes: class ids to keep (None = all).
    """

    def __init__(self, engine: Engine, *, imgsz: int | None = 640, score_min: float = 0.25,
                 iou_max: float = 0.7, max_det: int = 300, classes: Sequence[int] | None = None,
                 name: str = "model") -> None:
        self.engine, self.imgsz = engine, imgsz
        self.set_filters(score_min=score_min, iou_max=iou_max, max_det=max_det, classes=classes)
        predictions = [s for n, s in engine.outputs.items() if not n.startswith(FEATURE_PREFIX)]
        if len(engine.inputs) != 1 or len(predictions) != 1:
            raise ModelError(self._mismatch(name, "one input and one output (besides feature maps)"))
        self.input = next(iter(engine.inputs.values()))
        self.output = predictions[0]
        self.feature_outputs = [n for n in engine.outputs if n.startswith(FEATURE_PREFIX)]
        self.pixel_input = self.input.dtype == "uint8"  # (B, H, W, 3) BGR, normalised by the engine
        channels_at = 3 if self.pixel_input else 1
        if (len(self.input.shape) != 4 or self.input.shape[channels_at] not in (3, -1)
                or len(self.output.shape) != 3):
            raise ModelError(self._mismatch(name, "input (B,3,H,W) and output (B,C,anchors)"))
        meta = engine.metadata
        kpt = ast.literal_eval(meta["kpt_shape"]) if "kpt_shape" in meta else None
        self.num_keypoints = int(kpt[0]) if kpt else 0
        self.names: dict[int, str] = ast.literal_eval(meta["names"]) if "names" in meta else {0: "person"}
        self.num_classes = len(self.names)
        self.stride = int(meta.get("stride", 32))
        channels = 4 + self.num_classes + 3 * self.num_keypoints
        if self.output.shape[1] not in (-1, channels):
            raise ModelError(self._mismatch(name, f"output with {channels} channels"))
        hw = self.input.shape[1:3] if self.pixel_input else self.input.shape[2:]
        self.fixed_hw = (hw[0], hw[1]) if min(hw) > 0 else None

    def set_filters(self, *, score_min: float, iou_max: float, max_det: int,
                    classes: Sequence[int] | None) -> None:
        """Set the decoding thresholds (score, NMS IoU, detections per image, classes kept)."""
        self.score_min, self.iou_max, self.max_det = score_min, iou_max, max_det
        self.classes = None if classes is None else np.asarray(classes, dtype=np.int64)

    def _mismatch(self, name: str, expected: str) -> str:
        found = "; ".join(s.describe() for s in [*self.engine.inputs.values(), *self.engine.outputs.values()])
        return (f"{name}: not a YOLO detection or pose model (its inputs/outputs do not match: expected {expected}, "
                f"found {found})")

    def input_shape(self, height: int, width: int) -> tuple[int, int]:
        """Network (H, W) for a frame of this size: fixed by the model, or rect mode when dynamic."""
        if self.fixed_hw:
            return self.fixed_hw
        imgsz = self.imgsz or auto_imgsz(height, width, self.stride)
        return rect_input_shape(height, width, imgsz, self.stride)

    def preprocess(self, images: Sequence[np.ndarray], hw: tuple[int, int],
                   out: np.ndarray | None = None) -> tuple[np.ndarray, list[Letterbox]]:
        """Images (H, W, 3 BGR uint8) -> the engine's input batch (float32 RGB 0..1 (B, 3, h, w), or
        uint8 BGR (B, h, w, 3) for an engine with pixel input, into `out` when given) and their
        letterboxes."""
        return letterbox_batch(images, hw, pixels=self.pixel_input, out=out)

    def postprocess(self, output: np.ndarray, boxes: Sequence[Letterbox],
                    sizes: Sequence[tuple[int, int]]) -> list[Detections]:
        """Model output (B, C, A) -> one Detections per image, in original image pixels."""
        return [self._decode_one(output[i], boxes[i], sizes[i]) for i in range(output.shape[0])]

    def _decode_one(self, raw: np.ndarray, box: Letterbox, size: tuple[int, int]) -> Detections:
        nc = self.num_classes
        class_scores = raw[4:4 + nc]                                  # (nc, A)
        if nc == 1:
            score, class_id = class_scores[0], np.zeros(raw.shape[1], np.int64)
        else:  # the best class only where some class passes (argmax over all 80 rows cost 1.3 ms a frame)
            score = class_scores.max(0)
            class_id = np.zeros(raw.shape[1], np.int64)
            passing = np.flatnonzero(score > self.score_min)
            class_id[passing] = class_scores[:, passing].argmax(0)
        keep = score > self.score_min
        if self.classes is not None:
            keep &= np.isin(class_id, self.classes)
        rows = raw[:, keep].T                                          # (n, C)
        score, class_id = score[keep], class_id[keep]
        if rows.shape[0] == 0:
            return Detections.empty(self.num_keypoints or None)
        cx, cy, w, h = rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3]
        xyxy = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
        offset = class_id[:, None].astype(np.float32) * 7680.0        # class-aware NMS in one call
        kept = nms(xyxy + offset, score, self.iou_max)[: self.max_det]
        xyxy, score, class_id, rows = xyxy[kept], score[kept], class_id[kept], rows[kept]
        height, width = size
        xyxy = (xyxy - [box.pad_x, box.pad_y, box.pad_x, box.pad_y]) / box.scale
        np.clip(xyxy[:, 0::2], 0, width, out=xyxy[:, 0::2])
        np.clip(xyxy[:, 1::2], 0, height, out=xyxy[:, 1::2])
        keypoints = None
        if self.num_keypoints:
            keypoints = rows[:, 4 + nc:].reshape(-1, self.num_keypoints, 3).copy()
            keypoints[..., 0] = (keypoints[..., 0] - box.pad_x) / box.scale
            keypoints[..., 1] = (keypoints[..., 1] - box.pad_y) / box.scale
        return Detections(xyxy=xyxy, score=score, class_id=class_id.astype(np.int32), keypoints=keypoints)
