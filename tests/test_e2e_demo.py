"""End to end through the CLI with the real model: the demo, interrupts, bad sources."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from tests.conftest import ROOT, run_cli

pytest.importorskip("ultralytics", reason="the demo clip and the model export need the export extra")

from engines.select import cpu_has_amx
from stages.sources.demo import SEGMENT_FRAMES, bus_placement, demo_assets
from stages.tracking.association import iou_matrix

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess, Path]:
    out = tmp_path_factory.mktemp("demo")
    # What a new user gets: `precision: auto` builds INT8 on first use (once per cache, 20-60 s).
    return run_cli("run", "--out", str(out), env={"ARGUS_AUTO_INT8": "1"}), out


def frames_of(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "detections.jsonl").read_text().splitlines()]


def test_demo_writes_video_detections_and_events(demo_run) -> None:
    result, out = demo_run
    assert result.returncode == 0, result.stderr
    assert "ms / frame" in result.stderr and "pose" in result.stderr  # the timing table
    if "backend openvino" in result.stderr:  # a CPU with OpenVINO: INT8 with nothing built by hand (BF16 on AMX)
        assert f"on cpu, {'bf16' if cpu_has_amx() else 'int8'}" in result.stderr
    with av.open(str(out / "demo.mp4")) as container:
        assert container.streams.video[0].codec_context.name == "h264"
        assert sum(1 for _ in container.decode(video=0)) == 250
    frames = frames_of(out)
    assert [f["frame"] for f in frames] == list(range(250))
    assert all(f["source"] == "demo" and "pts_s" in f for f in frames)
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    assert events[0]["type"] == "stream_opened" and events[-1]["type"] == "stream_ended"
    started = {e["track_id"] for e in events if e["type"] == "track_started"}
    ended = {e["track_id"] for e in events if e["type"] == "track_ended"}
    assert len(started) >= 4 and started == ended
    bus_ids = {d["track_id"] for f in frames[:SEGMENT_FRAMES] for d in f["detections"]} - {-1}
    zidane_ids = {d["track_id"] for f in frames[SEGMENT_FRAMES:] for d in f["detections"]} - {-1}
    assert bus_ids and zidane_ids - bus_ids  # the cut to the second photo starts new tracks
    # Class-aware tracking: no id is ever given to rows of two classes (the bus's id never continues on a
    # person). People's ids may survive the synthetic cut: the detector's raw pooled features hardly tell a
    # person of one photo from one of the other (README, Detection), so re-identification can link them.
    classes_of: dict[int, set[str]] = {}
    for f in frames:
        for d in f["detections"]:
            if d["track_id"] >= 0:
                classes_of.setdefault(d["track_id"], set()).add(d["class_name"])
    assert {"bus", "person"} <= {c for names in classes_of.values() for c in names}
    assert all(len(names) == 1 for names in classes_of.values()), classes_of


def test_demo_finds_four_people_with_keypoints_on_bus(demo_run) -> None:
    _, out = demo_run
    bus_frames = frames_of(out)[:SEGMENT_FRAMES]

    def people(frame: dict) -> tuple[int, int]:
        """(people with a 17-keypoint skeleton, people with at least 5 confident keypoints)."""
        found = [d for d in frame["detections"] if d["class_name"] == "person" and len(d.get("keypoints", [])) == 17]
        return len(found), sum(sum(k[2] > 0.5 for k in d["keypoints"]) >= 5 for d in found)

    counts = [people(f) for f in bus_frames]
    # bus.jpg shows four people; the leftmost is cut in half by the photo's border, so only the
    # three whole ones are required to show five or more confident keypoints.
    assert sum(n >= 4 and whole >= 3 for n, whole in counts) >= 0.8 * len(bus_frames), Counter(counts)


def test_demo_track_ids_stay_with_people_during_pan(demo_run) -> None:
    """Follow each person of the bus photo through the pan using the clip's known geometry."""
    _, out = demo_run
    frames = frames_of(out)[:SEGMENT_FRAMES]
    photo = cv2.imread(str(demo_assets()["bus"]))
    scale0, x0, y0 = bus_placement(0.0, *photo.shape[:2])
    first = np.array([d["box"] for d in frames[0]["detections"] if d["score"] >= 0.7 and d["class_name"] == "person"])
    assert len(first) >= 3
    in_photo = (first - [x0, y0, x0, y0]) / scale0
    consistent = []
    for person in in_photo:
        ids = []
        for k, frame in enumerate(frames):
            scale, x, y = bus_placement(k / (SEGMENT_FRAMES - 1), *photo.shape[:2])
            expected = person * scale + [x, y, x, y]
            people = [d for d in frame["detections"] if d["class_name"] == "person"]
            boxes = np.array([d["box"] for d in people]).reshape(-1, 4)
            if len(boxes) == 0:
                continue
            ious = iou_matrix(expected[None].astype(np.float32), boxes.astype(np.float32))[0]
            if ious.max() >= 0.5:
                ids.append(people[int(ious.argmax())]["track_id"])
        modal_id, count = Counter(ids).most_common(1)[0]
        consistent.append(modal_id >= 0 and count >= 0.9 * len(ids) and len(ids) >= 0.8 * len(frames))
    assert all(consistent), consistent


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_interrupt_mid_run_leaves_playable_video_and_whole_lines(tmp_path: Path, sig: signal.Signals) -> None:
    process = subprocess.Popen([sys.executable, str(ROOT / "run.py"), "run", "--out", str(tmp_path)],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    detections = tmp_path / "detections.jsonl"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        if detections.exists() and detections.read_text().count("\n") >= 15:
            break
        time.sleep(0.1)
    process.send_signal(sig)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    lines = detections.read_text().splitlines()
    assert 15 <= len(lines) < 250 and all(json.loads(line)["source"] == "demo" for line in lines)
    with av.open(str(tmp_path / "demo.mp4")) as container:
        assert sum(1 for _ in container.decode(video=0)) == len(lines)
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert events[-1]["type"] == "stream_ended" and events[-1]["reason"] == "interrupted"
    assert "Traceback" not in stderr


def test_missing_source_file_exits_2_before_loading_model(tmp_path: Path) -> None:
    missing = tmp_path / "nope.mp4"
    result = run_cli("run", "--source", str(missing), "--out", str(tmp_path / "out"),
                     env={"ARGUS_CACHE": str(tmp_path / "empty-cache")})
    assert result.returncode == 2
    assert result.stderr.strip() == f"source 'nope': cannot open {missing}: no such file"
    assert not (tmp_path / "empty-cache").exists() or not any((tmp_path / "empty-cache").iterdir())
