"""The shared model-stage path (stages/model_stage.py): one runtime-settings model whose precisions each
stage narrows, and one resolve step that respects what a recipe lacks (no INT8 build, no 16-bit floats,
no native weights) for the face networks and action models as for YOLO."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engines.artefacts import ModelRecipe
from engines.tensorrt_build import ShapeProfile
from pipeline.config import load_config
from pipeline.errors import ConfigError, ModelError
from stages.model_stage import ModelRuntime, choose, onnx_recipe


def _recipe(half: bool = True) -> ModelRecipe:
    shape = ShapeProfile((1, 3, 8, 8), (2, 3, 8, 8), (4, 3, 8, 8))
    return onnx_recipe("toy", "toy|1", lambda: Path("toy.onnx"), shape, half=half)


def test_model_stage_refuses_a_precision_the_model_has_no_build_for() -> None:
    with pytest.raises(ModelError) as caught:
        choose(_recipe(), ModelRuntime(backend="onnxruntime", precision="int8"), "stage 'face' model toy")
    assert str(caught.value) == "stage 'face' model toy: precision int8 is not supported (toy runs fp32, fp16, bf16)"
    with pytest.raises(ModelError, match="toy runs fp32\\)"):
        choose(_recipe(half=False), ModelRuntime(backend="onnxruntime", precision="fp16"), "toy")


def test_model_stage_auto_picks_only_builds_the_model_has() -> None:
    cpu = choose(_recipe(), ModelRuntime(backend="onnxruntime", device="cpu"), "toy")
    assert (cpu.backend, cpu.precision) == ("onnxruntime", "fp32")  # no INT8 build: never int8 on a CPU
    assert cpu.reason.endswith("precision fp32: the model has no INT8 build"), cpu.reason
    gpu = choose(_recipe(half=False), ModelRuntime(backend="tensorrt"), "toy")
    assert (gpu.backend, gpu.device, gpu.precision) == ("tensorrt", "cuda:0", "fp32")  # FP32-only on a GPU
    assert gpu.reason.endswith("the model runs in FP32 only"), gpu.reason


def test_model_stage_torch_runs_onnx_only_models_on_another_runtime() -> None:
    pytest.importorskip("openvino", reason="the CPU runtime picked is OpenVINO where installed")
    choice = choose(_recipe(), ModelRuntime(backend="torch", device="cpu"), "toy")
    assert (choice.backend, choice.device, choice.precision) == ("openvino", "cpu", "fp32")


@pytest.mark.parametrize(("stage", "problem"), [
    ({"type": "face", "precision": "int8"}, "stages.2.precision: int8 is not a precision this stage's models "
     "run (one of auto, fp32, fp16, bf16)"),
    ({"type": "face", "calib": "x.mp4"}, "stages.2.calib: unknown key 'calib'"),
    ({"type": "action", "precision": "fp16"}, "stages.2.precision: fp16 is not a precision this stage's "
     "models run (one of auto, fp32)"),
])
def test_model_stage_config_names_what_a_stage_cannot_run(tmp_path: Path, stage: dict, problem: str) -> None:
    from stages.faces.gallery import Gallery

    if stage["type"] == "face":
        Gallery(tmp_path / "g.db", "facenet512", "vggface2-pb1", create=True).close()
        stage = {**stage, "gallery": str(tmp_path / "g.db")}
    with pytest.raises(ConfigError) as caught:
        load_config(None, replace={"sources": [{"id": "demo", "uri": "demo"}],
                                   "stages": [{"type": "pose"}, {"type": "track"}, stage]})
    assert len(caught.value.lines) == 1 and caught.value.lines[0].endswith(problem), caught.value.lines


def test_model_stage_loads_the_action_model() -> None:
    from stages.actions.model import BUILTIN, ActionModel
    from stages.actions.stage import ActionConfig

    model = ActionModel(BUILTIN, ActionConfig(model="builtin"))
    try:
        assert (model.choice.backend, model.choice.precision) == ("onnxruntime", "fp32")
        windows = np.zeros((3, model.info.steps, 62), np.float32)
        assert model(windows).shape == (3, len(model.info.classes))
    finally:
        model.close()
