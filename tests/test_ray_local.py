"""`run --ray local` gives the same outputs as the single-process runner: the same frames, the same
detections (within float tolerance), the same track ids, MOT rows, events and video frame counts,
with `sort` and with the default tracker (`argus`, appearance and camera-motion included).

Exact comparisons are sound here: ONNX Runtime on the CPU gives bit-identical results for a frame
whatever batch it shares (measured), and nothing in the trackers reads the clock. What timing could
change is an actor counted lost on a loaded machine (extra stream_lost and track_ended events):
that is checked first, with its own message."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.ray_checks import STAGES_AND_SINKS, decoded_frames, read_jsonl

pytestmark = pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                                reason="ray is not installed (pip install 'argus-pipeline[ray]')")

CONFIG = """
sources:
  - {{id: a, uri: '{video}', max_frames: 30}}
  - {{id: b, uri: '{video}', max_frames: 25}}
  - {{id: c, uri: '{video}', max_frames: 20}}
""" + STAGES_AND_SINKS + """runner: {{progress: false, ray: {{streams_per_actor: 2, num_cpus_per_actor: 1}}}}
"""


def _by_frame(path: Path) -> dict[tuple[str, int], dict]:
    return {(row["source"], row["frame"]): row for row in read_jsonl(path)}


def _close(a: dict, b: dict) -> bool:
    if a.keys() != b.keys():
        return False
    for key in a:
        x, y = a[key], b[key]
        if isinstance(x, list):
            if len(x) != len(y) or not all(_close({"v": p}, {"v": q}) for p, q in zip(x, y, strict=True)):
                return False
        elif isinstance(x, float) or isinstance(y, float):
            if abs(float(x) - float(y)) > 1e-2 * max(1.0, abs(float(x))):
                return False
        elif isinstance(x, dict):
            if not _close(x, y):
                return False
        elif x != y:
            return False
    return True


@pytest.mark.parametrize("tracker", ["sort", "argus"])
def test_same_outputs_with_and_without_ray(vtest: Path, tmp_path: Path, tracker: str) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG.format(video=vtest).replace("tracker: sort", f"tracker: {tracker}"))
    assert f"tracker: {tracker}" in config.read_text()
    env = {"RAY_USAGE_STATS_ENABLED": "0"}
    single = run_cli("run", str(config), "--out", str(tmp_path / "single"), "--json", env=env)
    assert single.returncode == 0, single.stderr[-2000:]
    ray = run_cli("run", str(config), "--out", str(tmp_path / "ray"), "--json", "--ray", "local", env=env)
    assert ray.returncode == 0, ray.stderr[-3000:]
    assert json.loads(ray.stdout)["frames"] == json.loads(single.stdout)["frames"] == 75
    lost = [e for e in read_jsonl(tmp_path / "ray" / "events.jsonl") if e["type"] == "stream_lost"]
    assert not lost, f"an actor was counted lost (a loaded machine?): {lost}"
    tracks = [e for e in read_jsonl(tmp_path / "single" / "events.jsonl") if e["type"] == "track_started"]
    assert len(tracks) > 3  # the trackers had work to do

    one, two = _by_frame(tmp_path / "single" / "detections.jsonl"), _by_frame(tmp_path / "ray" / "detections.jsonl")
    assert one.keys() == two.keys()
    assert all(_close(one[k], two[k]) for k in one), "detections differ"
    for source in "abc":
        left, right = tmp_path / "single", tmp_path / "ray"
        assert (left / f"{source}.txt").read_text() == (right / f"{source}.txt").read_text()
        assert decoded_frames(left / f"{source}.mp4") == decoded_frames(right / f"{source}.mp4")

    def kinds(folder: str) -> list[tuple]:
        events = read_jsonl(tmp_path / folder / "events.jsonl")
        return sorted((e["type"], e["source"], e.get("track_id", -1), e.get("frame_index", -1), e.get("frames", -1))
                      for e in events)

    one_kinds, two_kinds = kinds("single"), kinds("ray")
    assert one_kinds == two_kinds, (sorted(set(one_kinds) - set(two_kinds)), sorted(set(two_kinds) - set(one_kinds)))
