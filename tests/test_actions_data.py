"""Actions on the shared labelled clips (../shared/data/actions): the data reads, the builtin model
loads and labels a real clip through a pipeline, rules are scored (in-sample), and
`actions train` refuses bad folders without writing --out."""

from __future__ import annotations

import json
import shutil

import pytest

from argus.cli.main import main
from tests.conftest import SHARED_DATA

ACTIONS = SHARED_DATA / "actions"
needs_data = pytest.mark.skipif(not (ACTIONS / "labels.csv").is_file(),
                                reason=f"shared action clips not found at {ACTIONS}")


@needs_data
def test_shared_labels_four_people_seven_falls() -> None:
    from argus.tools.actions.labels import read_clips

    clips = read_clips(ACTIONS)
    assert len(clips) == 16
    assert sorted({c.person for c in clips}) == ["S1", "S2", "assist_0702", "assist_0902"]
    assert sum(lab == "falling" for c in clips for _, _, lab in c.segments) == 7
    official = read_clips(ACTIONS, source="official")
    assert len(official) == 8  # GMDCSA24 only


def test_builtin_model_ships_and_matches_the_window() -> None:
    from stages.actions.model import BUILTIN, read_info
    from stages.actions.stage import ActionConfig

    assert BUILTIN.is_file() and BUILTIN.stat().st_size < 1_000_000
    info = read_info(BUILTIN)
    assert {"standing", "walking", "sitting", "lying", "falling"} <= set(info.classes)
    ActionConfig(model="builtin")
    with pytest.raises(ValueError, match="does not match"):
        ActionConfig(model="builtin", window_s=info.window_s + 1)


@needs_data
def test_rules_figures_on_the_shared_clips_in_sample(capsys) -> None:
    # In-sample: the default thresholds were tuned on these clips (`actions tune`); the held-out figure
    # of that search is `--model tune-rules` (tests/test_actions_tune.py checks it never peeks).
    assert main(["actions", "eval", str(ACTIONS), "--model", "rules", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    falls = result["falls"]
    assert falls["labelled"] == 7
    assert falls["detected"] >= 3  # measured 4/7
    assert falls["false_alarms_non_fall_clips"] <= 1  # measured 0
    assert result["posture_macro_f1"] >= 0.4  # measured 0.54
    lo, hi = falls["wilson95"]
    assert 0 <= lo < falls["recall"] < hi <= 1


@needs_data
def test_pipeline_labels_a_real_fall_with_events(tmp_path) -> None:
    from pipeline import Pipeline

    clip = ACTIONS / "assist_fall" / "fall_05_vertical_fall_faint.mp4"
    p = Pipeline.from_config({
        "sources": [{"id": "fall", "uri": str(clip), "max_frames": 150}],
        "stages": [{"type": "pose"}, {"type": "track"}, {"type": "action", "model": "rules"}],
        "sinks": [{"type": "detections", "path": "d.jsonl"}, {"type": "events", "path": "e.jsonl"}],
        "output_dir": str(tmp_path), "runner": {"progress": False}})
    assert p.run() == 0
    rows = [r for line in (tmp_path / "d.jsonl").read_text().splitlines() for r in json.loads(line)["detections"]]
    labels = {r.get("action") for r in rows}
    assert "standing" in labels and "falling" in labels
    events = [json.loads(line) for line in (tmp_path / "e.jsonl").read_text().splitlines()]
    started = [e for e in events if e["type"] == "action_started" and e["label"] == "falling"]
    assert started and 1.8 <= started[0]["start_pts_s"] <= 3.3  # labelled fall start 2.3 s
    ended = {e["track_id"] for e in events if e["type"] == "action_ended"}
    assert {e["track_id"] for e in events if e["type"] == "action_started"} <= ended  # all closed at the end


@needs_data
def test_every_track_replay_and_a_whole_pipeline_agree_on_a_real_fall(tmp_path, capsys) -> None:
    # one shared fall clip (S1_Fall_13, 128 frames): the cached rows through the action stage
    # (--all-tracks) and the documented action config run as a pipeline (--pipeline) raise the same fall
    data = tmp_path / "data"
    (data / "gmdcsa24").mkdir(parents=True)
    (data / "gmdcsa24" / "S1_Fall_13.mp4").symlink_to(ACTIONS / "gmdcsa24" / "S1_Fall_13.mp4")
    rows = [r for r in (ACTIONS / "labels.csv").read_text().splitlines()
            if r.startswith("file,") or (r.startswith("gmdcsa24/S1_Fall_13.mp4") and ",eye," in r)]
    (data / "labels.csv").write_text("\n".join(rows) + "\n")
    config = tmp_path / "falls.yaml"
    config.write_text("stages:\n  - {type: pose, score_min: 0.1}\n"
                      "  - {type: track, score_mode: absolute, high_score: 0.5, low_score: 0.1, new_track_score: 0.3}\n"
                      "  - {type: action, model: rules}\n")
    found = {}
    for how in (["--all-tracks"], ["--pipeline", str(config)]):
        assert main(["actions", "eval", str(data), *how, "--json"]) == 0
        falls = json.loads(capsys.readouterr().out)["falls"]
        assert falls["labelled"] == 1 and falls["caught"] == 1 and falls["false_alarms"] == 0
        found[how[0]] = falls["per_clip"]["gmdcsa24/S1_Fall_13.mp4"]
    assert found["--all-tracks"] == found["--pipeline"]
    start = found["--pipeline"]["starts"][0]
    assert abs(start - 0.4) <= 0.5  # labelled fall start 0.4 s: the onset, not the decision
    (data / "bad.yaml").write_text("stages: [{type: pose}, {type: track}]\n")
    assert main(["actions", "eval", str(data), "--pipeline", str(data / "bad.yaml")]) == 2
    assert "no `action` stage" in capsys.readouterr().err


def test_the_falls_config_uses_the_finder_the_action_tools_measure() -> None:
    from pathlib import Path

    from argus.tools.actions.extract import SETTINGS, TRACK
    from pipeline.config import load_config

    config = load_config(Path(__file__).parent.parent / "configs" / "falls.yaml")
    pose, track, action = config.stages
    assert (pose.type, pose.input, pose.model, pose.imgsz, pose.score_min) == (
        "pose", None, SETTINGS["model"], SETTINGS["imgsz"], SETTINGS["score_min"])
    assert {k: getattr(track, k) for k in TRACK} == TRACK
    assert (action.type, action.model) == ("action", "rules")


def test_train_refuses_bad_folders_and_writes_nothing(tmp_path, capsys) -> None:
    data = tmp_path / "data"
    (data / "waving").mkdir(parents=True)
    (data / "waving" / "broken.mp4").write_bytes(b"not a video")
    out = tmp_path / "m.onnx"
    assert main(["actions", "train", str(data), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "broken.mp4" in err and not out.exists()
    (data / "labels.csv").write_text("file,start_s,end_s,label\nwaving/broken.mp4,0,x,waving\n")
    assert main(["actions", "train", str(data), "--out", str(out)]) == 2
    assert "labels.csv:2:" in capsys.readouterr().err and not out.exists()


@needs_data
def test_train_class_without_a_person_names_the_clip(tmp_path, capsys) -> None:
    data = tmp_path / "data"
    (data / "standing").mkdir(parents=True)
    (data / "empty").mkdir()
    shutil.copy(ACTIONS / "gmdcsa24" / "S2_ADL_23.mp4", data / "standing" / "a.mp4")
    shutil.copy(ACTIONS / "assist_fall" / "adl_03_jogging_slowly.mp4", data / "empty" / "b.mp4")
    (data / "labels.csv").write_text("file,start_s,end_s,label\nstanding/a.mp4,0,7,standing\n"
                                     "empty/b.mp4,0,0.5,nobody_here\n")
    out = tmp_path / "m.onnx"
    assert main(["actions", "train", str(data), "--out", str(out), "--classes", "standing,nobody_here"]) == 2
    err = capsys.readouterr().err
    assert "b.mp4" in err and "nobody_here" in err and not out.exists()
