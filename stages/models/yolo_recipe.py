"""What the engines must know to make a YOLO model's files, given to them as one `ModelRecipe`.

- ONNX: ultralytics' export with the backbone feature maps added (`ultralytics.py`).
- INT8 leaves the head's non-Conv nodes (`/model.23/...` in YOLO11, `/model.22/...` in YOLOv8: the last
  module, found in the graph) in float: its one output mixes pixel coordinates and probabilities, and
  quantising it collapses every score to 0. The OpenVINO format
  ("u8s8-openvino") also keeps the head's class-score convolutions (`/model.23/cv3`) float: about
  0.5 ms, and it cut the score error (MAE 0.017 -> 0.012, recall 0.90 -> 0.97 on borderline people
  scoring 0.25-0.29, vtest.mp4).
- TensorRT: one profile for a dynamic batch (1 / 4 / 8) and any input size up to imgsz on each
  side (rect mode: 480x640, 384x640...).
- Calibration frames are letterboxed exactly as inference does, to the first frame's rect shape.
- Built-in calibration frames (INT8 on first use, when no video was given): frames sampled evenly
  from the demo clip made of ultralytics' bus.jpg and zidane.jpg (stages/sources/demo.py); the
  INT8 model is then checked against FP32 on other frames of the same clip.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import lru_cache, partial
from pathlib import Path
from types import MappingProxyType

import numpy as np

from engines.agreement import Agreement, agreement
from engines.artefacts import ModelRecipe
from engines.tensorrt_build import ShapeProfile
from pipeline.types import Detections, ModelFacts
from stages.models.builtin import BUILTIN_MODELS
from stages.models.feature_taps import TAPS_VERSION
from stages.models.ultralytics import onnx_for, resolve_weights, torch_weights
from stages.models.yolo import YoloAdapter, letterbox_batch, rect_input_shape

HEAD_PREFIX = "/model.23/"  # ultralytics' Detect/Pose head in yolo11 exports
SCORE_BRANCH_PREFIX = "/model.23/cv3"  # the head's class-score convolutions
_MODULE = re.compile(r"^/model\.(\d+)/")
TENSORRT_BATCH = (1, 4, 8)  # min / opt / max batch of the TensorRT profile
MIN_SIDE = 32  # smallest input side the TensorRT profile accepts (one stride)
BUILTIN_CALIB_FRAMES = 64
CHECK_FRAMES = 24  # other views, for the agreement check after an automatic build
VIEW_SIZE = (960, 720)  # built-in calibration frames: 4:3, as the demo clip


def keep_float(fmt: str, name: str, op_type: str, head: str = HEAD_PREFIX) -> bool:
    """Whether INT8 format `fmt` leaves the ONNX node `name` (of type `op_type`) in float, for a model
    whose Detect/Pose head is the module `head` (e.g. "/model.23/")."""
    if name.startswith(head) and op_type != "Conv":
        return True
    return fmt == "u8s8-openvino" and name.startswith(f"{head}cv3") and op_type == "Conv"


@lru_cache(maxsize=16)
def head_prefix(onnx_path: Path) -> str:
    """The node-name prefix of an ultralytics export's head: its last module (`/model.23/` in YOLO11,
    `/model.22/` in YOLOv8), read from the graph's node names."""
    import onnx

    model = onnx.load(str(onnx_path), load_external_data=False)
    found = [int(m.group(1)) for n in model.graph.node if (m := _MODULE.match(n.name))]
    return f"/model.{max(found)}/" if found else HEAD_PREFIX


def _keep_float_of(onnx: Callable[[], Path]) -> Callable[[str, str, str], bool]:
    """`keep_float` for the model whose FP32 export `onnx()` returns (its head found in the graph)."""
    return lambda fmt, name, op_type: keep_float(fmt, name, op_type, head_prefix(onnx()))


def model_facts(model: str, adapter: YoloAdapter) -> ModelFacts:
    """What later stages need to know about `model` (as loaded into `adapter`): its task from the output
    layout, class names from its metadata, its appearance head from the built-in table, and the tracker's
    score bands by task: 2 for keypoint models, whose scores rise steeply with a person's height
    (measured on yolo11n-pose, see stages/track.py), 1 for detectors."""
    builtin = BUILTIN_MODELS.get(model)
    task = "pose" if adapter.num_keypoints else "detect"
    head = builtin.embedding_head if builtin is not None and builtin.embedding_head else None
    name = Path(model).stem if model.endswith((".pt", ".onnx")) else model
    return ModelFacts(name=name, task=task, score_bands=2 if task == "pose" else 1,
                      embedding_head=str(head) if head is not None and head.is_file() else None,
                      class_names=MappingProxyType(dict(adapter.names)))


def tensorrt_shapes(imgsz: int, batch: tuple[int, int, int] = TENSORRT_BATCH) -> ShapeProfile:
    """The TensorRT profile: `batch` min/opt/max, any image from MIN_SIDE up to imgsz on each side."""
    low, typical, high = batch
    return ShapeProfile((low, 3, MIN_SIDE, MIN_SIDE), (typical, 3, imgsz, imgsz), (high, 3, imgsz, imgsz))


def calibration_inputs(frames: Sequence[np.ndarray], imgsz: int) -> np.ndarray:
    """BGR frames -> (N, 3, h, w) inputs, letterboxed to the first frame's rect shape."""
    return letterbox_batch(frames, rect_input_shape(*frames[0].shape[:2], imgsz))[0]


def photo_views(count: int, *, seed: int = 0, size: tuple[int, int] = VIEW_SIZE) -> list[np.ndarray]:
    """`count` 4:3 frames made from ultralytics' bus.jpg and zidane.jpg (deterministic per `seed`):
    one in three a single window of a photo (50-100 % of its height, anywhere in it), the others
    mosaics of 2x2 and 3x3 such windows, so people appear at every size from close-ups down to the
    small figures of a surveillance camera."""
    import cv2

    from stages.sources.demo import demo_assets

    photos = [cv2.imread(str(path)) for path in demo_assets().values()]
    rng = np.random.default_rng(seed)
    width, height = size

    def window(w: int, h: int) -> np.ndarray:
        photo = photos[int(rng.integers(len(photos)))]
        ph, pw = photo.shape[:2]
        win_h = min(ph, pw * h / w) * rng.uniform(0.5, 1.0)
        win_w = win_h * w / h
        x0, y0 = rng.uniform(0, pw - win_w), rng.uniform(0, ph - win_h)
        scale = w / win_w
        affine = np.array([[scale, 0, -x0 * scale], [0, scale, -y0 * scale]])
        return cv2.warpAffine(photo, affine, (w, h), flags=cv2.INTER_AREA, borderValue=(114, 114, 114))

    frames = []
    for k in range(count):
        grid = (1, 2, 3)[k % 3]
        cw, ch = width // grid, height // grid
        frame = np.full((height, width, 3), 114, np.uint8)
        for i in range(grid * grid):
            r, c = divmod(i, grid)
            frame[r * ch:(r + 1) * ch, c * cw:(c + 1) * cw] = window(cw, ch)
        frames.append(frame)
    return frames


def builtin_frames(count: int = BUILTIN_CALIB_FRAMES) -> tuple[str, list[np.ndarray]]:
    """The built-in calibration frames: (what they are, frames)."""
    return f"{count} views and mosaics of ultralytics' bus.jpg and zidane.jpg", photo_views(count)


def _detections(path: Path, backend: str, precision: str, frames: Sequence[np.ndarray], imgsz: int) -> list[Detections]:
    from engines.loader import load_engine

    adapter = YoloAdapter(load_engine(path, backend=backend, precision=precision), imgsz=imgsz)
    try:
        found: list[Detections] = []
        for frame in frames:
            tensor, boxes = adapter.preprocess([frame], adapter.input_shape(*frame.shape[:2]))
            output = adapter.engine({adapter.input.name: tensor})[adapter.output.name]
            found += adapter.postprocess(output, boxes, [frame.shape[:2]])
        return found
    finally:
        adapter.engine.close()


def int8_agreement(backend: str, fp32: Path, int8: Path, *, imgsz: int) -> Agreement:
    """INT8 against FP32 (box recall, class agreement, mean OKS) on demo-clip frames the calibration did not use,
    run on OpenVINO for its INT8 format, else on ONNX Runtime."""
    frames = photo_views(CHECK_FRAMES, seed=1)
    runtime = "openvino" if backend == "openvino" else "onnxruntime"
    return agreement(_detections(fp32, runtime, "fp32", frames, imgsz),
                     _detections(int8, runtime, "int8", frames, imgsz))


def _has_demo() -> bool:
    """Whether the demo clip's photos are installed (they ship in ultralytics)."""
    from stages.sources.demo import demo_assets

    try:
        return all(path.is_file() for path in demo_assets().values())
    except FileNotFoundError:
        return False


def yolo_recipe(model: str, imgsz: int, max_side: int | None = None) -> ModelRecipe:
    """The recipe of a built-in name or a .pt/.onnx path at input size `imgsz` (ModelError if missing);
    `max_side`: the largest input side the TensorRT profile must take (default `imgsz`; `imgsz: auto`
    calibrates at 640 and runs up to 1280)."""
    weights = resolve_weights(model)
    taps = f"|{TAPS_VERSION}" if weights.suffix == ".pt" else ""  # the export (and its INT8) changes with the taps
    onnx = partial(onnx_for, model, imgsz)
    return ModelRecipe(name=model, key=f"{weights.name}|{imgsz}{taps}",
                       onnx=onnx, weights=partial(torch_weights, model),
                       preprocess=partial(calibration_inputs, imgsz=imgsz), keep_float=_keep_float_of(onnx),
                       shapes=tensorrt_shapes(max_side or imgsz),
                       builtin_frames=builtin_frames if _has_demo() else None,
                       check=partial(int8_agreement, imgsz=imgsz), pixel_input=True)
