"""Bad input, generated and tabulated: every case is a one-line error naming the file, key, source or
sink, never a traceback, and nothing already written is lost."""

from __future__ import annotations

import json
import re
import resource
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline import EXIT_FAILED, EXIT_OK, Pipeline
from pipeline.config import PipelineConfig, load_config
from pipeline.errors import ConfigError, SourceOpenError
from tests.conftest import ROOT, write_video

VALID: dict[str, Any] = {
    "sources": [{"id": "cam", "uri": "demo", "queue_size": 4}],
    "stages": [{"type": "pose", "score_min": 0.3}, {"type": "track", "lost_frames": 20}],
    "sinks": [{"type": "video"}, {"type": "detections"}],
    "runner": {"max_batch": 2},
}
ERROR_LINE = re.compile(r"^(cfg\.yaml:\d+|cfg\.yaml|command line): \S.*: .+$")
JUNK = st.one_of(st.integers(-10**6, 10**6), st.floats(allow_nan=False), st.text(max_size=8), st.booleans(),
                 st.none(), st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=4),
                                                                                st.integers(), max_size=2))


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += _paths(value, (*prefix, i))
    return out


@st.composite
def mutated_configs(draw: st.DrawFn) -> dict[str, Any]:
    data = json.loads(json.dumps(VALID))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(data)))
        parent = data
        for part in path[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(["junk", "rename", "delete", "unknown_type"]))
        if action == "junk":
            parent[path[-1]] = draw(JUNK)
        elif action == "rename" and isinstance(path[-1], str):
            parent[path[-1] + draw(st.sampled_from(["x", "_", "s"]))] = parent.pop(path[-1])
        elif action == "delete" and isinstance(parent, dict):
            parent.pop(path[-1])
        elif action == "unknown_type" and isinstance(data.get("stages"), list):
            data["stages"].append({"type": draw(st.text(min_size=1, max_size=6))})
    return data


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_configs())
def test_malformed_configs_give_one_line_errors(data: dict[str, Any]) -> None:
    text = yaml.safe_dump(data)
    try:
        config: PipelineConfig | ConfigError = load_config(Path("cfg.yaml"), text=text)
    except ConfigError as exc:
        config = exc
    if isinstance(config, ConfigError):
        assert config.lines, "an error must say something"
        for line in config.lines:
            assert "\n" not in line and ERROR_LINE.match(line), line
    else:
        assert isinstance(config, PipelineConfig)


@pytest.fixture(scope="module")
def clean_video(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return write_video(tmp_path_factory.mktemp("v") / "clean.mp4", 80).read_bytes()


def _damaged(data: bytes, kind: str, fraction: float) -> bytes:
    cut = int(len(data) * fraction)
    if kind == "truncate":
        return data[:cut]
    damaged = bytearray(data)
    for i in range(cut, min(len(data), cut + 2000)):
        damaged[i] = (damaged[i] * 131 + 7) % 256
    return bytes(damaged)


@pytest.mark.parametrize("kind", ["truncate", "corrupt"])
@pytest.mark.parametrize("fraction", [0.02, 0.1, 0.25, 0.4, 0.55, 0.7, 0.85, 0.97])
def test_damaged_video_is_an_error_naming_the_source(tmp_path: Path, clean_video: bytes, kind: str,
                                                     fraction: float) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(_damaged(clean_video, kind, fraction))
    good = write_video(tmp_path / "good.mp4", 20)
    config = load_config(None, replace={
        "sources": [{"id": "bad", "uri": str(bad)}, {"id": "good", "uri": str(good)}],
        "sinks": [{"type": "detections"}, {"type": "events"}], "output_dir": str(tmp_path / "out"),
        "runner": {"progress": False}})
    try:
        runner: Pipeline | SourceOpenError = Pipeline(config, stages=[])
    except SourceOpenError as exc:
        runner = exc
    if isinstance(runner, SourceOpenError):  # damage in the header: refused before the run, one line
        assert str(runner).startswith(f"source 'bad': cannot open {bad}: ") and "\n" not in str(runner)
        return
    code = runner.run()
    events = [json.loads(line) for line in (tmp_path / "out" / "events.jsonl").read_text().splitlines()]
    frames = [json.loads(line) for line in (tmp_path / "out" / "detections.jsonl").read_text().splitlines()]
    assert sum(f["source"] == "good" for f in frames) == 20  # the other source carried on
    if code == EXIT_FAILED:
        errors = [e for e in events if e["type"] == "stream_error"]
        assert [e["source"] for e in errors] == ["bad"] and errors[0]["error"]
    else:  # damage only in bytes the decoder never needed (e.g. padding): all frames decoded
        assert code == EXIT_OK and sum(f["source"] == "bad" for f in frames) >= 78


def _limit_file_size() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG instead of being killed
    resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))


def test_full_disk_names_the_sink_and_keeps_whole_lines(tmp_path: Path) -> None:
    video = write_video(tmp_path / "v.mp4", 400)
    config = tmp_path / "nomodel.yaml"
    config.write_text(yaml.safe_dump({"stages": [], "sinks": [{"type": "detections"}, {"type": "events"}],
                                      "sources": [{"id": "v", "uri": str(video)}]}))
    result = subprocess.run([sys.executable, str(ROOT / "run.py"), "run", str(config), "--out",
                             str(tmp_path / "out")], cwd=ROOT, capture_output=True, text=True, timeout=120,
                            preexec_fn=_limit_file_size, check=False)
    assert result.returncode == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if "ERROR" in line]
    assert len(errors) == 1 and "sink 'detections'" in errors[0] and "File too large" in errors[0]
    assert "Traceback" not in result.stderr
    for name in ("detections.jsonl", "events.jsonl"):
        for line in (tmp_path / "out" / name).read_text().splitlines():
            json.loads(line)  # every line written is whole JSON
