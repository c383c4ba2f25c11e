"""The clips sink on real encoded video (the shared vtest.mp4, 10 FPS): pre/post roll, durations,
merging, splitting, retention, a full disk, clip_saved, and the CLI's bad-input errors."""

from __future__ import annotations

import itertools
import json
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from pipeline import Pipeline
from pipeline.config import load_config
from pipeline.source import StreamStart
from pipeline.types import Event, Frame, Packet
from stages.sinks.clips import read_index
from stages.sinks.clips.config import ClipsSinkConfig
from stages.sinks.clips.sink import ClipsSink
from tests.clip_files import needs_ffprobe, probe_duration
from tests.conftest import file_size_limit, run_cli

FPS = 10.0  # vtest.mp4


def decode(path: Path, count: int) -> Iterator[Frame]:
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i == count:
                return
            yield Frame("cam", i, float(frame.pts * frame.time_base), frame.to_ndarray(format="bgr24"))


def record(out: Path, video: Path, at: list[int], frames: int = 120, **settings: object) -> tuple[ClipsSink, list]:
    """Feed `frames` frames to a clips sink, with a track_started event on each frame index in `at`."""
    config = ClipsSinkConfig(trigger=[{"event": "track_started"}], annotate=False, **settings)
    sink = ClipsSink(config, out)
    sink.start_source(StreamStart("cam", str(video), 768, 576, FPS, None))
    made: list[Event] = []
    for frame in decode(video, frames):
        sink.write(Packet(frame))
        if frame.index in at:
            sink.write_events([Event("track_started", "cam", pts_s=frame.pts_s, frame_index=frame.index,
                                     track_id=frame.index)])
        made += sink.take_events()
    sink.end_source("cam")
    made += sink.take_events()
    sink.close()
    return sink, made


def decoded(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]


def difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


@needs_ffprobe
def test_a_clip_has_pre_and_post_roll_and_its_index_row_matches_the_file(tmp_path: Path, vtest: Path) -> None:
    sink, made = record(tmp_path, vtest, at=[50], pre_s=2, post_s=2)
    (row,) = read_index(tmp_path / "clips")
    assert row["state"] == "closed" and row["source"] == "cam" and row["trigger"] == "track_started"
    assert row["track_ids"] == [50] and len(row["events"]) == 1 and row["part"] == 1
    # pre-roll: from the keyframe at or before 5.0 - 2 s (keyframes every 1 s); post-roll: to 5.0 + 2 s
    assert 3.0 - 1.0 - 1e-6 <= row["start_pts_s"] <= 3.0 and 7.0 <= row["end_pts_s"] < 7.0 + 0.15
    clip = tmp_path / "clips" / row["path"]
    assert row["bytes"] == clip.stat().st_size > 0
    assert abs(probe_duration(clip) - (row["end_pts_s"] - row["start_pts_s"])) <= 0.5
    images = decoded(clip)
    assert len(images) == round((row["end_pts_s"] - row["start_pts_s"]) * FPS) + 1
    source = {f.index: f.image for f in decode(vtest, 120)}
    first, last = round(row["start_pts_s"] * FPS), round(row["end_pts_s"] * FPS)
    # the frames are those of their times: the first is the stream's frame at start_pts_s, not a later one
    assert difference(images[0], source[first]) < 0.5 * difference(images[0], source[first + 5])
    assert difference(images[-1], source[last]) < 0.5 * difference(images[-1], source[last - 5])
    thumbnail = cv2.imread(str(tmp_path / "clips" / row["thumbnail"]))
    assert difference(thumbnail, source[50]) < 0.5 * difference(thumbnail, source[45])  # the trigger frame
    (saved,) = made
    assert saved.type == "clip_saved" and saved.payload == {
        "clip": row["id"], "path": f"clips/{row['path']}", "thumbnail": f"clips/{row['thumbnail']}",
        "start_pts_s": row["start_pts_s"], "end_pts_s": row["end_pts_s"], "trigger": "track_started",
        "bytes": row["bytes"]}
    assert sink.stats() == {"open": 0, "saved": 1, "deleted": 0, "errors": 0, "last_error": None, "preroll_bytes": 0}


def test_overlapping_triggers_merge_and_a_later_one_starts_a_new_clip(tmp_path: Path, vtest: Path) -> None:
    _, made = record(tmp_path, vtest, at=[30, 40, 55, 100], pre_s=1, post_s=2)
    first, second = read_index(tmp_path / "clips")
    assert first["track_ids"] == [30, 40, 55] and len(first["events"]) == 3
    assert first["start_pts_s"] <= 2.0 and 7.5 <= first["end_pts_s"] < 7.65  # the last trigger + post_s
    assert second["track_ids"] == [100] and second["start_pts_s"] <= 9.0 and second["end_pts_s"] >= 11.9
    assert [e.payload["clip"] for e in made] == [first["id"], second["id"]]


def test_a_trigger_whose_pre_roll_reaches_a_just_closed_window_extends_that_clip(tmp_path: Path, vtest: Path) -> None:
    """Trigger at 3.0 s (window to 4.0 s), then at 4.8 s, after that end but with pre-roll back to 3.8 s: one clip,
    every frame once (two clips would share 3.0-4.0 s), the held frames 4.0-4.8 s included."""
    _, made = record(tmp_path, vtest, at=[30, 48], pre_s=1, post_s=1)
    (clip,) = read_index(tmp_path / "clips")
    assert clip["track_ids"] == [30, 48] and len(made) == 1
    assert clip["start_pts_s"] <= 2.0 and clip["end_pts_s"] == pytest.approx(5.8, abs=0.06)
    times = [frame.pts_s for frame in decode(tmp_path / "clips" / clip["path"], 1000)]
    steps = {round(b - a, 3) for a, b in itertools.pairwise(times)}
    assert steps == {round(1 / FPS, 3)}
    assert times[-1] - times[0] == pytest.approx(clip["end_pts_s"] - clip["start_pts_s"], abs=1e-3)


@needs_ffprobe
def test_a_long_clip_is_split_into_parts_of_at_most_max_s(tmp_path: Path, vtest: Path) -> None:
    record(tmp_path, vtest, at=list(range(20, 101, 10)), pre_s=1, post_s=1, max_s=4)
    parts = read_index(tmp_path / "clips")
    assert [p["part"] for p in parts] == list(range(1, len(parts) + 1)) and len(parts) >= 3
    assert parts[0]["start_pts_s"] <= 1.0 and parts[-1]["end_pts_s"] >= 11.0
    for before, after in itertools.pairwise(parts):
        assert after["previous"] == before["id"]
        assert after["start_pts_s"] == pytest.approx(before["end_pts_s"] + 1 / FPS)  # no frame lost or repeated
    for part in parts:
        duration = probe_duration(tmp_path / "clips" / part["path"])
        assert duration <= 4.0 + 1e-6 and abs(duration - (part["end_pts_s"] - part["start_pts_s"])) <= 0.5


def test_retention_under_a_tiny_max_gb_deletes_the_oldest_clips_first(tmp_path: Path, vtest: Path) -> None:
    _, made = record(tmp_path, vtest, at=[15, 45, 75, 105], pre_s=0.5, post_s=0.5)
    sizes = [e.payload["bytes"] for e in made]
    assert len(sizes) == 4
    shutil.rmtree(tmp_path / "clips")
    limit = sizes[2] + sizes[3] + 1000  # room for the two newest only
    sink, made = record(tmp_path, vtest, at=[15, 45, 75, 105], pre_s=0.5, post_s=0.5,
                        retain={"days": 7, "max_gb": limit / 1e9})
    ids = [e.payload["clip"] for e in made]
    kept = read_index(tmp_path / "clips")
    assert [r["id"] for r in kept] == ids[2:] and sink.deleted == 2
    assert sum(r["bytes"] for r in kept) <= limit
    left = {p.name for p in (tmp_path / "clips").iterdir() if p.suffix in (".mp4", ".jpg")}
    assert left == {name for r in kept for name in (r["path"], r["thumbnail"])}


class Triggers:
    """A stage raising track_started on chosen frames (no model needed)."""

    name = "triggers"

    def __init__(self, frames: set[int]) -> None:
        self.frames = frames

    def process(self, batch: list[Packet]) -> list[Packet]:
        for packet in batch:
            frame = packet.frame
            if frame.index in self.frames:
                packet.events.append(Event("track_started", frame.source_id, pts_s=frame.pts_s,
                                           frame_index=frame.index, track_id=frame.index))
        return batch

    def end_source(self, source_id: str) -> list[Event]:
        return []

    def close(self) -> None:
        pass


def pipeline_config(tmp_path: Path, vtest: Path, frames: int, **clips: object):
    sink = {"type": "clips", "trigger": [{"event": "track_started"}], "annotate": False, **clips}
    return load_config(None, replace={"sources": [{"id": "cam", "uri": str(vtest), "max_frames": frames}],
                                      "sinks": [{"type": "events"}, sink], "output_dir": str(tmp_path / "out"),
                                      "runner": {"progress": False, "max_batch": 2}})


def test_clip_saved_reaches_the_other_sinks_and_the_event_subscribers(tmp_path: Path, vtest: Path) -> None:
    pipeline = Pipeline(pipeline_config(tmp_path, vtest, 60, pre_s=1, post_s=1), stages=[Triggers({20})])
    subscription = pipeline.subscribe_events()
    assert pipeline.run() == 0
    subscribed = [e for e in subscription if e.type == "clip_saved"]
    events = [json.loads(line) for line in (tmp_path / "out" / "events.jsonl").read_text().splitlines()]
    saved = [e for e in events if e["type"] == "clip_saved"]
    (row,) = read_index(tmp_path / "out" / "clips")
    assert len(saved) == len(subscribed) == 1 and saved[0]["clip"] == subscribed[0].payload["clip"] == row["id"]
    assert (tmp_path / "out" / saved[0]["path"]).is_file() and events[-1]["type"] == "stream_ended"


@pytest.fixture
def small_disk() -> Iterator[int]:
    """Files this process writes may not grow past 150_000 bytes (EFBIG, like a full disk)."""
    with file_size_limit(150_000) as limit:
        yield limit


def test_a_full_disk_is_reported_by_the_clips_sink_and_the_other_sinks_go_on(
        tmp_path: Path, vtest: Path, small_disk: int, caplog: pytest.LogCaptureFixture) -> None:
    pipeline = Pipeline(pipeline_config(tmp_path, vtest, 90, pre_s=1, post_s=3), stages=[Triggers({20, 60})])
    clips = next(slot.sink for slot in pipeline.worker.sinks.slots if slot.type == "clips")
    with caplog.at_level(logging.ERROR, logger="argus"):
        assert pipeline.run() == 1  # what was lost makes the exit code say so
    assert pipeline.run_stats.failed_sinks == {}  # contained: the clips sink went on recording
    stats = clips.stats()
    assert stats["errors"] == 2 and "File too large" in stats["last_error"] and stats["saved"] == 0
    assert list(pipeline.run_stats.sink_errors) == ["clips"]
    assert pipeline.run_stats.sink_errors["clips"].startswith("2 failure(s), the last: ")
    assert "File too large" in pipeline.run_stats.to_json()["sink_errors"]["clips"]
    assert any("clips sink goes on" in r.getMessage() for r in caplog.records)
    rows = read_index(tmp_path / "out" / "clips")
    assert len(rows) == 2 and all(r["state"] == "closed" and "File too large" in r["error"] for r in rows)
    for row in rows:  # what reached the disk plays, whole fragments only, and the index says how much
        assert (tmp_path / "out" / "clips" / row["path"]).stat().st_size <= small_disk
        frames = len(decoded(tmp_path / "out" / "clips" / row["path"]))
        assert frames >= 10 and abs(frames - ((row["end_pts_s"] - row["start_pts_s"]) * FPS + 1)) <= 5
    events = [json.loads(line) for line in (tmp_path / "out" / "events.jsonl").read_text().splitlines()]
    assert events[-1]["type"] == "stream_ended" and events[-1]["frames"] == 90  # the events sink saw it all


def write_config(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_a_clips_dir_that_cannot_be_written_is_one_line_at_start_and_exit_2(tmp_path: Path, vtest: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "clips").write_text("a file where the folder should be")
    config = write_config(tmp_path / "c.yaml", f"""
sources: [{{id: cam, uri: {vtest}, max_frames: 5}}]
stages: []
sinks: [{{type: clips, trigger: [{{event: track_started}}]}}]
output_dir: {tmp_path / 'out'}
""")
    result = run_cli("run", str(config), timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"sink 'clips': cannot write {tmp_path / 'out' / 'clips'}: File exists"]


def test_check_lists_the_registered_event_types_and_warns_about_unknown_where_keys(tmp_path: Path) -> None:
    bad = write_config(tmp_path / "bad.yaml", "sinks: [{type: clips, trigger: [{event: fall}]}]\n")
    result = run_cli("check", str(bad), timeout=120)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "sinks.0.trigger: 0.event: unknown event type 'fall'; registered event types: action_ended, " \
        "action_started," in result.stderr
    odd = write_config(tmp_path / "odd.yaml", "sinks: [{type: clips, trigger: [{event: action_started, "
                       "where: {labl: falling}}]}]\n")
    result = run_cli("check", str(odd), timeout=120)
    assert result.returncode == 0, result.stderr
    assert "WARNING" in result.stderr and "'labl' is not a field of 'action_started' events" in result.stderr


def test_a_changed_config_is_taken_in_place_unless_the_folder_changes(tmp_path: Path, vtest: Path) -> None:
    sink = ClipsSink(ClipsSinkConfig(trigger=[{"event": "track_started"}], annotate=False), tmp_path)
    sink.start_source(StreamStart("cam", str(vtest), 768, 576, FPS, None))
    changed = ClipsSinkConfig(trigger=[{"event": "track_ended"}], annotate=False, pre_s=1, post_s=1, preset="ultrafast")
    for frame in decode(vtest, 60):
        sink.write(Packet(frame))
        if frame.index == 20:
            assert sink.reconfigure(changed) is True  # a new sink on this folder could not take its lock
        if frame.index in (30, 40):
            kind = "track_started" if frame.index == 30 else "track_ended"
            sink.write_events([Event(kind, "cam", pts_s=frame.pts_s, track_id=frame.index)])
    assert sink.reconfigure(changed.model_copy(update={"dir": "elsewhere"})) is False
    sink.close()
    (row,) = read_index(tmp_path / "clips")
    assert row["track_ids"] == [40] and 2.0 <= row["start_pts_s"] <= 3.0 and 5.0 <= row["end_pts_s"] < 5.15
