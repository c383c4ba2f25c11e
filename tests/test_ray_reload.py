"""Hot reload under Ray at parity with the single-process runner: the same changes of stages, sinks
(merged on the driver and per source on the actors) and runner settings give the same reports while
the streams run on two actors; a new sink sees the open streams; an invalid config or a stage that
cannot be built changes nothing; outputs stay whole (frames contiguous, track ids never reused)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from pipeline import Pipeline
from pipeline.config import load_config
from pipeline.errors import ConfigError
from pipeline.hot_reload import ReloadError
from pipeline.protocol import PipelineAPI
from tests.ray_checks import frames_by_source, read_jsonl
from tests.waiting import wait_until

pytestmark = pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                                reason="ray is not installed (pip install 'argus-pipeline[ray]')")

CONFIG = """
sources: [{{id: a, uri: '{video}', loop: true}}, {{id: b, uri: '{video}', loop: true}}]
stages:
  - {{type: pose, model: yolo11n-pose, imgsz: 480, threads: 1, backend: onnxruntime, score_min: 0.1}}
  - {{type: track, tracker: sort, min_hits: 1, new_track_score: 0.1, high_score: 0.1, low_score: 0.05}}
sinks: [{{type: mot}}, {{type: events}}]
output_dir: {out}
runner: {{progress: false, max_batch: 2, ray: {{streams_per_actor: 1, num_cpus_per_actor: 0.5}}}}
"""

# (what to replace in the YAML, with what, the report's `changed`)
STEPS: list[tuple[str, str, dict[str, Any]]] = [
    ("score_min: 0.1", "score_min: 0.2", {"stages": {"reconfigured": ["pose"]}}),
    ("tracker: sort", "tracker: bytetrack", {"stages": {"rebuilt": ["track"]}}),
    ("{type: events}]", "{type: events}, {type: detections}]", {"sinks": {"added": ["detections"]}}),
    ("{type: detections}]", "{type: detections}, {type: mot, id: per, path: 'per/{source_id}.txt'}]",
     {"sinks": {"added": ["per"]}}),
    ("max_batch: 2", "max_batch: 3", {"runner": ["max_batch"]}),
]


def _frames(pipeline: PipelineAPI, source_id: str) -> int:
    return pipeline.stats()["sources"].get(source_id, {}).get("frames", 0)


def _flowing(pipeline: PipelineAPI, count: int = 3) -> None:
    """Both sources deliver `count` more frames."""
    before = {s: _frames(pipeline, s) for s in "ab"}
    wait_until(lambda: all(_frames(pipeline, s) >= before[s] + count for s in "ab"), timeout=180,
               what=f"{count} more frames of a and b")


def _has_rows(path: Path) -> bool:
    return path.is_file() and path.stat().st_size > 0


def _reload_run(pipeline: PipelineAPI, text: str, broken_model: Path, out: Path) -> list[dict[str, Any]]:
    """Every step applied to the running `pipeline`; the reports. Then an invalid config and a
    stage that cannot be built: refused, and the pipeline runs on at the same version. Before stopping,
    the per-source sink added at run time has written tracked rows of both sources (how many frames
    that takes varies with the load: a count of frames alone left one file empty once under Ray)."""
    pipeline.start()
    reports = []
    try:
        _flowing(pipeline)
        for old, new, _ in STEPS:
            text = text.replace(old, new)
            reports.append(pipeline.apply(text))
            _flowing(pipeline)
        with pytest.raises(ConfigError):
            pipeline.apply(text.replace("imgsz: 480", "imgsz: 481"))
        with pytest.raises(ReloadError, match="old config keeps running"):
            pipeline.apply(text.replace("model: yolo11n-pose", f"model: '{broken_model}'"))
        assert pipeline.version == 1 + len(STEPS)
        _flowing(pipeline)
        wait_until(lambda: all(_has_rows(out / "per" / f"{s}.txt") for s in "ab"), timeout=180,
                   what="tracked rows of a and b in the per-source sink added at run time")
    finally:
        pipeline.stop()
        assert pipeline.wait(120) == 0
    return reports


def _check_outputs(out: Path) -> None:
    events = read_jsonl(out / "events.jsonl")
    applied = [e["version"] for e in events if e["type"] == "config_applied"]
    assert applied == list(range(2, 2 + len(STEPS)))
    for source in "ab":
        started = [e["track_id"] for e in events if e["type"] == "track_started" and e["source"] == source]
        assert len(started) == len(set(started)), f"{source}: a track id reused across the rebuilt tracker"
    merged = frames_by_source(read_jsonl(out / "detections.jsonl"))  # added while the streams ran
    for source in "ab":
        frames = merged[source]
        assert frames and frames == list(range(frames[0], frames[0] + len(frames))), source
        rows = (out / "per" / f"{source}.txt").read_text().splitlines()  # a per-source sink added
        assert rows and all(int(row.split(",")[0]) - 1 in frames for row in rows), source


def test_ray_hot_reload_matches_the_single_process_runner(vtest: Path, tmp_path: Path) -> None:
    from pipeline.ray.driver import RayPipeline

    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not an ONNX model")  # passes validation (the file exists), fails to build
    single_text = CONFIG.format(video=vtest, out=tmp_path / "single")
    single = _reload_run(Pipeline(load_config(text=single_text), keep_alive=True), single_text, broken,
                         tmp_path / "single")
    assert [r["changed"] for r in single] == [changed for _, _, changed in STEPS]
    _check_outputs(tmp_path / "single")

    ray_text = CONFIG.format(video=vtest, out=tmp_path / "ray")
    ray = _reload_run(RayPipeline(load_config(text=ray_text), "local", keep_alive=True), ray_text, broken,
                      tmp_path / "ray")
    assert ray == single  # the same versions and reports
    _check_outputs(tmp_path / "ray")
