"""The clips sink's parts without video: pre-roll ring, trigger matching, retention, index, config checks."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from pipeline.config import load_config
from pipeline.errors import ConfigError
from pipeline.types import Event
from stages.sinks.clips import ClipBusyError, delete_clip, read_index
from stages.sinks.clips.config import TriggerConfig
from stages.sinks.clips.encoder import EncodedFrame
from stages.sinks.clips.index import INDEX_NAME, ClipIndex
from stages.sinks.clips.retention import expired, started_s
from stages.sinks.clips.ring import PreRoll
from stages.sinks.clips.triggers import matching_trigger


def encoded(i: int, fps: float = 10.0, gop: int = 10) -> EncodedFrame:
    return EncodedFrame(bytes(100), i, i / fps, i % gop == 0)


def test_preroll_keeps_whole_keyframe_intervals_back_to_its_horizon() -> None:
    ring = PreRoll(horizon_s=2.5)
    for i in range(100):
        ring.append(encoded(i))
    # newest 9.9 s: the latest keyframe at or before 7.4 s is 7.0 s; nothing older is kept
    frames = ring.since(0.0)
    assert frames[0].pts_s == pytest.approx(7.0) and frames[0].key and frames[-1].pts_s == pytest.approx(9.9)
    assert len(ring) == 30 and ring.nbytes == 3000
    assert ring.since(8.5)[0].pts_s == pytest.approx(8.0)  # the keyframe at or before the asked time
    assert ring.since(9.0)[0].pts_s == pytest.approx(9.0)


def test_preroll_ignores_frames_before_the_first_keyframe() -> None:
    ring = PreRoll(horizon_s=1.0)
    ring.append(EncodedFrame(b"x", 0, 0.0, False))
    assert len(ring) == 0 and ring.since(0.0) == []


def test_trigger_matches_type_and_every_where_value_exactly() -> None:
    triggers = [TriggerConfig(event="action_started", where={"label": "falling"}),
                TriggerConfig(event="zone_entered", where={"zone": "door", "count": 1}),
                TriggerConfig(event="track_started")]

    def match(kind: str, **payload: object) -> int | None:
        found = matching_trigger(triggers, Event(kind, "cam", pts_s=1.0, payload=payload))
        return None if found is None else triggers.index(found)

    assert match("action_started", label="falling") == 0
    assert match("action_started", label="walking") is None
    assert match("action_started") is None  # a key the payload lacks never matches
    assert match("zone_entered", zone="door", count=1) == 1
    assert match("zone_entered", zone="door", count=True) is None  # no bool/int mix-up
    assert match("zone_entered", zone="door", count="1") is None
    assert match("track_started", anything="x") == 2
    assert match("track_ended") is None


def row(clip_id: str, hour: int, size: int, state: str = "closed") -> dict:
    return {"id": clip_id, "state": state, "bytes": size, "wall_time": f"2030-01-01T{hour:02d}:00:00.000+00:00",
            "path": f"{clip_id}.mp4", "thumbnail": f"{clip_id}.jpg"}


def test_retention_deletes_oldest_closed_clips_first_and_never_an_open_one() -> None:
    now = row("x", 12, 0)
    rows = [row("b", 2, 300), row("open", 0, 500, "open"), row("a", 1, 300), row("c", 3, 300)]
    assert expired(rows, started_s(now), None, 1000) == ["a", "b"]  # 1400 bytes -> 800
    assert expired(rows, started_s(now), None, 1400) == []
    assert expired(rows, started_s(now), None, 1) == ["a", "b", "c"]  # never "open", even past the limit
    assert expired(rows, started_s(now), 9.5 / 24, None) == ["a", "b"]  # started before 02:30
    assert expired(rows, started_s(now), 10.5 / 24, 1100) == ["a"]  # by age; then 1100 bytes are left
    assert expired(rows, started_s(now), 10.5 / 24, 900) == ["a", "b"]


def test_read_index_takes_the_last_row_per_id_and_skips_torn_lines(tmp_path: Path) -> None:
    lines = [json.dumps(row("a", 1, 10, "open")), json.dumps(row("b", 2, 10, "open")), "{not json",
             json.dumps(row("a", 1, 99)), json.dumps({"id": "b", "state": "deleted"}), '{"id": "c", "sta']
    (tmp_path / INDEX_NAME).write_text("\n".join(lines))
    assert [(r["id"], r["state"], r["bytes"]) for r in read_index(tmp_path)] == [("a", "closed", 99)]
    assert read_index(tmp_path / "none") == []


def test_delete_clip_removes_files_and_refuses_a_clip_a_running_sink_writes(tmp_path: Path) -> None:
    for name in ("a.mp4", "a.jpg", "b.mp4"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / INDEX_NAME).write_text(json.dumps(row("a", 1, 1)) + "\n")
    index = ClipIndex(tmp_path)  # a running sink: holds the folder's lock
    index.append(row("b", 2, 1, "open"))
    with pytest.raises(ClipBusyError):
        delete_clip(tmp_path, "b")
    assert delete_clip(tmp_path, "a") is True
    assert not (tmp_path / "a.mp4").exists() and not (tmp_path / "a.jpg").exists()
    assert delete_clip(tmp_path, "nope") is False
    assert [r["id"] for r in read_index(tmp_path)] == ["b"]
    with pytest.raises(ClipBusyError):
        ClipIndex(tmp_path)  # one sink per folder
    index.close()


def test_index_start_closes_clips_a_killed_run_left_open_and_compacts(tmp_path: Path) -> None:
    lines = [row("gone", 1, 5, "open"), row("kept", 2, 5), {"id": "kept2", "state": "deleted"}]
    (tmp_path / INDEX_NAME).write_text("".join(json.dumps(r) + "\n" for r in lines) + '{"torn')
    (tmp_path / "gone.mp4").write_bytes(b"not a video")  # no frame can be read: dropped with its files
    index = ClipIndex(tmp_path)
    index.close()
    assert index.recovered == [] and not (tmp_path / "gone.mp4").exists()
    assert (tmp_path / INDEX_NAME).read_text().splitlines() == [json.dumps(row("kept", 2, 5), separators=(",", ":"))]


SINK = "sinks: [{type: clips, trigger: [%s]}]"


def test_check_rejects_an_unknown_event_type_listing_the_registered_ones() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(text=SINK % "{event: person_fell}")
    message = str(info.value)
    assert "sinks.0.trigger: 0.event: unknown event type 'person_fell'; registered event types:" in message
    assert all(name in message for name in ("action_started", "zone_entered", "track_started", "clip_saved"))
    assert len(message.splitlines()) == 1


def test_check_warns_about_a_where_key_the_event_never_carries(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="argus"):
        load_config(text=SINK % "{event: zone_entered, where: {zone: door}}")
        assert not caplog.records
        load_config(text=SINK % "{event: zone_entered, where: {colour: red}}")
    assert len(caplog.records) == 1
    assert "'colour' is not a field of 'zone_entered' events (fields: zone, class_name, identity, action)" \
        in caplog.records[0].getMessage()


@pytest.mark.parametrize(("sink", "problem"), [
    ("{type: clips, trigger: [{event: clip_saved}]}", "'clip_saved' cannot trigger a clip"),
    ("{type: clips, trigger: []}", "at least 1 item"),
    ("{type: clips, trigger: [{event: track_started, where: {a: [1]}}]}", "sinks.0.trigger.0.where.a"),
    ("{type: clips, trigger: [{event: track_started}], max_s: 4, keyframe_s: 3}", "at most half of max_s"),
])
def test_bad_clips_configs_are_one_line_errors(sink: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        load_config(text=f"sinks: [{sink}]")


def test_delete_clip_never_deletes_outside_the_folder(tmp_path: Path) -> None:
    """An index edited by hand to name `../victim.txt` loses its row but the file outside stays."""
    clips, victim = tmp_path / "clips", tmp_path / "victim.txt"
    clips.mkdir()
    victim.write_text("keep me")
    (clips / "a.jpg").write_bytes(b"x")
    (clips / INDEX_NAME).write_text(json.dumps({**row("a", 1, 1), "path": "../victim.txt"}) + "\n")
    assert delete_clip(clips, "a") is True
    assert victim.read_text() == "keep me"
    assert not (clips / "a.jpg").exists()
    assert read_index(clips) == []
