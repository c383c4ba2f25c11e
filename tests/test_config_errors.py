"""Config loading: one-line FILE:LINE: key.path errors, env interpolation, overrides, examples."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import PipelineConfig, load_config
from pipeline.errors import ConfigError
from tests.conftest import ROOT, run_cli

CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))
CAMERA_ENV = {"CAM_USER": "admin", "CAM_PASS": "s3cret", "CAM_HOST": "10.0.0.5"}


def errors_of(text: str, overrides: list[str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(Path("cfg.yaml"), overrides, text=text)
    return info.value.lines


def test_config_unknown_key_names_line_and_suggests() -> None:
    lines = errors_of("sources:\n  - id: a\n    uri: demo\n    queue_sise: 3\n")
    assert lines == ["cfg.yaml:4: sources.0.queue_sise: unknown key 'queue_sise' (did you mean 'queue_size'?)"]


def test_config_unknown_stage_key_suggests_from_that_stage() -> None:
    lines = errors_of("stages:\n  - {type: track}\n  - type: pose\n    score_mn: 0.3\n")
    assert lines == ["cfg.yaml:4: stages.1.score_mn: unknown key 'score_mn' (did you mean 'score_min'?)"]


def test_config_wrong_type_and_range() -> None:
    lines = errors_of("runner:\n  max_batch: many\n")
    assert len(lines) == 1 and lines[0].startswith("cfg.yaml:2: runner.max_batch: ") and "integer" in lines[0]
    lines = errors_of("stages:\n  - {type: pose, score_min: 1.5}\n")
    assert lines[0].startswith("cfg.yaml:2: stages.0.score_min: ") and "1" in lines[0]


def test_config_unknown_stage_type() -> None:
    lines = errors_of("stages:\n  - {type: trak}\n")
    assert lines == ["cfg.yaml:2: stages.0.type: unknown type 'trak' (did you mean 'track'?); "
                     "valid types: detect, pose, track, action, face, zones"]


def test_config_missing_model_file() -> None:
    lines = errors_of("stages:\n  - type: pose\n    model: /models/nope.pt\n")
    assert lines[0].startswith("cfg.yaml:3: stages.0.model: model file not found: /models/nope.pt")


def test_config_env_interpolation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAM_URL_TEST", "rtsp://u:p@cam/1")
    config = load_config(Path("c.yaml"), text="sources:\n  - {id: c, uri: '${env:CAM_URL_TEST}'}\n")
    assert config.sources[0].uri == "rtsp://u:p@cam/1"
    monkeypatch.delenv("CAM_URL_TEST")
    assert errors_of("sources:\n  - {id: c, uri: '${env:CAM_URL_TEST}'}\n") == [
        "cfg.yaml:2: sources.0.uri: environment variable CAM_URL_TEST is not set"]
    assert "only ${env:VAR}" in errors_of("output_dir: '${HOME}/x'\n")[0]


def test_config_set_overrides_default_pipeline() -> None:
    config = load_config(None, ["stages.0.score_min=0.4", "runner.max_batch=2", "sinks.0.crf=30"])
    assert config.stages[0].score_min == 0.4 and config.runner.max_batch == 2 and config.sinks[0].crf == 30
    assert errors_of("", ["stages.0.score_min=abc"])[0].startswith("command line: stages.0.score_min:")


def test_config_yaml_syntax_error_names_line() -> None:
    lines = errors_of("sources:\n  - {id: a, uri: demo\nstages: []\n")
    assert len(lines) == 1 and lines[0].startswith("cfg.yaml:3: invalid YAML")


def test_config_duplicate_source_ids() -> None:
    lines = errors_of("sources:\n  - {id: a, uri: demo}\n  - {id: a, uri: demo}\n")
    assert "used twice" in lines[0] and lines[0].startswith("cfg.yaml:1: sources")


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_config_examples_are_valid(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in CAMERA_ENV.items():
        monkeypatch.setenv(key, value)
    config = load_config(path)
    assert isinstance(config, PipelineConfig) and config.sources and config.stages


def test_config_examples_cover_the_documented_set() -> None:
    assert {p.name for p in CONFIGS} >= {"default.yaml", "video.yaml", "rtsp.yaml", "multi-camera.yaml"}


def test_cli_check_bad_config_is_one_line_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("sources:\n  - {id: a, uri: demo}\nstages:\n  - {type: pose, imgsz: big}\n")
    result = run_cli("check", str(bad))
    assert result.returncode == 2
    assert result.stderr.strip() == f"{bad}:4: stages.0.imgsz: imgsz must be 'auto' or a multiple of 32 from 32 " \
                                    "to 4096, got 'big'"
    assert "Traceback" not in result.stderr


def test_cli_unset_env_masks_nothing_and_exits_2() -> None:
    result = run_cli("check", str(ROOT / "configs" / "rtsp.yaml"), env={"CAM_USER": "", "CAM_PASS": "x"})
    assert result.returncode == 2 and "CAM_HOST is not set" in result.stderr and "Traceback" not in result.stderr


def test_cli_schema_is_json_schema() -> None:
    import json

    result = run_cli("schema")
    schema = json.loads(result.stdout)
    assert result.returncode == 0 and "sources" in schema["properties"] and "stages" in schema["properties"]
