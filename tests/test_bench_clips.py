"""`bench clips`' pure parts: the sides, their order, the clips sink each side configures, the stream
length and the medians and ratios (no timing: the measurement itself is run by hand, see README)."""

from __future__ import annotations

import pytest

from argus.benchmarks.clips import NEVER, clips_sink, loops_needed, parse_sides, side_order, summarise
from pipeline.config import load_config
from pipeline.errors import ArgusError


def test_sides_put_off_first_and_refuse_unknown_ones() -> None:
    assert parse_sides("off,ring") == ["off", "ring"]
    assert parse_sides("ring") == ["off", "ring"]
    assert parse_sides("clips, ring,clips") == ["off", "clips", "ring"]
    for bad in ("ring,bogus", "", ","):
        with pytest.raises(ArgusError, match="--sides"):
            parse_sides(bad)


def test_rounds_alternate_the_order() -> None:
    assert [side_order(["off", "ring"], r) for r in range(3)] == [["off", "ring"], ["ring", "off"], ["off", "ring"]]


def test_the_stream_outlasts_the_run() -> None:
    assert loops_needed(79.5, 10, 30) == 2  # 130 s of a 79.5 s video
    assert loops_needed(79.5, 0, 1, margin_s=0) == 1
    assert loops_needed(10, 10, 30) * 10 >= 10 + 30 + 90


def test_each_side_configures_a_valid_clips_sink(tmp_path) -> None:
    assert clips_sink("off") is None
    with pytest.raises(ArgusError, match="unknown side"):
        clips_sink("many")
    for side in ("ring", "clips"):
        config = load_config(None, replace={"sources": [{"id": "cam0", "uri": "rtsp://127.0.0.1:1/cam"}],
                                            "output_dir": str(tmp_path), "sinks": [clips_sink(side)]})
        (sink,) = config.sinks
        assert sink.type == "clips"
    # the ring side's trigger names a field its event carries, with a value no event has
    assert NEVER["event"] == "track_ended" and set(NEVER["where"]) == {"reason"}


def _run(cpu_s: float, frames: tuple[int, int], dropped: tuple[int, int], span: float = 10.0) -> dict:
    total = sum(frames)
    return {"cpu_s_per_frame": cpu_s / total, "cores_used": cpu_s / span, "fps": total / span,
            "delivered": {"cam0": frames[0], "cam1": frames[1]}, "dropped": {"cam0": dropped[0], "cam1": dropped[1]},
            "fps_per_camera": {"cam0": frames[0] / span, "cam1": frames[1] / span}}


def test_summary_takes_medians_and_ratios_to_off() -> None:
    runs = {"off": [_run(10, (100, 100), (0, 0)), _run(12, (100, 100), (0, 2)), _run(100, (100, 100), (0, 0))],
            "ring": [_run(15, (100, 100), (1, 1)), _run(14, (100, 100), (0, 0)), _run(16, (100, 100), (0, 0))]}
    summary = summarise(runs)
    off, ring = summary["per_side"]["off"], summary["per_side"]["ring"]
    assert off["cpu_s_per_frame"] == 0.06 and off["cpu_ms_per_frame"] == 60.0  # the median ignores the outlier
    assert ring["cpu_s_per_frame"] == 0.075
    assert summary["cpu_per_frame_ratio_to_off"] == {"ring": 1.25}
    assert summary["extra_cpu_ms_per_frame"] == {"ring": 15.0}
    assert off["dropped_per_camera"] == {"cam0": 0, "cam1": 0} and off["delivered_per_camera"]["cam1"] == 100
    assert ring["drop_fraction"] == round(2 / 602, 4)
    assert off["fps"] == 20.0 and off["fps_per_camera"] == {"cam0": 10.0, "cam1": 10.0}


def test_summary_without_frames_has_no_ratio() -> None:
    empty = {"cpu_s_per_frame": None, "cores_used": 0.5, "fps": 0.0, "delivered": {"cam0": 0}, "dropped": {"cam0": 5},
             "fps_per_camera": {"cam0": 0.0}}
    summary = summarise({"off": [empty], "ring": [empty]})
    assert summary["per_side"]["off"]["cpu_s_per_frame"] is None
    assert summary["cpu_per_frame_ratio_to_off"] == {} and summary["extra_cpu_ms_per_frame"] == {}
    assert summary["per_side"]["ring"]["drop_fraction"] == 1.0
