"""What the engines must know to make a YOLO model's files, given to them as one `ModelRecipe`.

- ONNX: ultralytics' export with the backbone feature maps added (`ultralytics.py`).
- INT8 leaves the pose head's non-Conv nodes (`/model.23/...`) in float: its one output mixes pixel
  coordinates and probabilities, and quantising it collapses every score to 0. The OpenVINO format
  ("u8s8-openvino") also keeps the head's class-score convolutions (`/model.23/cv3`) float: about
  0.5 ms, and it cut the score error (MAE 0.017 -> 0.012, recall 0.90 -> 0.97 on borderline people
  scoring 0.25-0.29, vtest.mp4).
- TensorRT: one profile for a dynamic batch (1 / 4 / 8) and any input size up to imgsz on each
  side (rect mode: 480x640, 384x640...).
- Calibration frames are letterboxed exactly as inference does, to the first frame's rect shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import numpy as np

from engines.artefacts import ModelRecipe
from engines.tensorrt_build import ShapeProfile
from stages.models.ultralytics import onnx_for, resolve_weights, torch_weights
from stages.models.yolo import letterbox_batch, rect_input_shape

HEAD_PREFIX = "/model.23/"  # ultralytics' Detect/Pose head in yolo11 exports
SCORE_BRANCH_PREFIX = "/model.23/cv3"  # the head's class-score convolutions
TENSORRT_BATCH = (1, 4, 8)  # min / opt / max batch of the TensorRT profile
MIN_SIDE = 32  # smallest input side the TensorRT profile accepts (one stride)


def keep_float(fmt: str, name: str, op_type: str) -> bool:
    """Whether INT8 format `fmt` leaves the ONNX node `name` (of type `op_type`) in float."""
    if name.startswith(HEAD_PREFIX) and op_type != "Conv":
        return True
    return fmt == "u8s8-openvino" and name.startswith(SCORE_BRANCH_PREFIX) and op_type == "Conv"


def tensorrt_shapes(imgsz: int, batch: tuple[int, int, int] = TENSORRT_BATCH) -> ShapeProfile:
    """The TensorRT profile: `batch` min/opt/max, any image from MIN_SIDE up to imgsz on each side."""
    low, typical, high = batch
    return ShapeProfile((low, 3, MIN_SIDE, MIN_SIDE), (typical, 3, imgsz, imgsz), (high, 3, imgsz, imgsz))


def calibration_inputs(frames: Sequence[np.ndarray], imgsz: int) -> np.ndarray:
    """BGR frames -> (N, 3, h, w) inputs, letterboxed to the first frame's rect shape."""
    return letterbox_batch(frames, rect_input_shape(*frames[0].shape[:2], imgsz))[0]


def yolo_recipe(model: str, imgsz: int) -> ModelRecipe:
    """The recipe of a built-in name or a .pt/.onnx path at input size `imgsz` (ModelError if missing)."""
    return ModelRecipe(name=model, key=f"{resolve_weights(model).name}|{imgsz}",
                       onnx=partial(onnx_for, model, imgsz), weights=partial(torch_weights, model),
                       preprocess=partial(calibration_inputs, imgsz=imgsz), keep_float=keep_float,
                       shapes=tensorrt_shapes(imgsz))
