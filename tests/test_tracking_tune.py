"""`track tune`: cross-validation bookkeeping, the snippet the track stage loads, the CLI errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli
from test_tracking_simulate import write_sequence

from argus.tools.tracking.simulate import DetectorSpec
from argus.tools.tracking.tune import (
    PREVIOUS_DEFAULTS,
    Unit,
    fold_of,
    select,
    snippet,
    trial_params,
    tune,
    write_snippet,
)
from pipeline.config import load_config
from stages.track import TrackStage


def _units(seqs: list[str], dets: list[str]) -> list[Unit]:
    return [Unit(f"{s}+{d}", type("Seq", (), {"name": s})(), d) for s in seqs for d in dets]  # type: ignore[arg-type]


def test_tracking_tune_selection_never_sees_the_held_out_sequence_or_detector() -> None:
    units = _units(["A", "B"], ["p", "q"])  # A+p, A+q, B+p, B+q
    assert fold_of(units, 2) == ({"A": 0, "B": 1}, {"p": 0, "q": 1})
    # trial 1 is best only on A+p itself; trial 0 on B+q, the one unit sharing neither A nor p
    table = np.array([[50.0, 50.0, 50.0, 60.0],
                      [99.0, 10.0, 10.0, 40.0]])
    chosen = select(units, table, 2, np.ones(2, bool))
    assert chosen["A+p"] == 0  # its own 99 does not count
    assert chosen["B+q"] == 1  # trained on A+p only
    assert select(units, table, 2, np.array([False, True]))["A+p"] == 1  # restricted to allowed trials
    with pytest.raises(ValueError, match="no training units"):
        select(_units(["A"], ["p"]), np.zeros((1, 1)), 2, np.ones(1, bool))


def test_tracking_tune_trials_start_with_defaults_and_are_seeded() -> None:
    a, b = trial_params(12, 3), trial_params(12, 3)
    assert a == b and a[0] == {} and len(a) == 12
    assert [p["score_mode"] for p in a[1:5]] == ["absolute", "quantile", "range", "adaptive"]
    assert a[5] == PREVIOUS_DEFAULTS and [p["score_bands"] for p in a[6:8]] == [2, 3]
    assert trial_params(12, 4)[8:] != a[8:]
    for p in a[8:]:
        assert 0.3 <= p["high_score"] <= p["new_track_score"] <= 0.95 and p["low_score"] < p["high_score"]
        assert p["score_bands"] in (1, 2, 3) and p["iou_rate_exponent"] in (0.0, 0.5, 1.0, 1.5)


def test_tracking_tune_snippet_loads_through_the_track_stage(tmp_path: Path) -> None:
    chosen = {"score_mode": "quantile", "high_score": 0.45, "new_track_score": 0.5, "low_score": 0.05,
              "match_iou": 0.2, "min_hits": 3, "low_match_iou": 0.3, "low_lost_frames": 5, "score_bands": 3,
              "rate_exponent": 1.5, "iou_rate_exponent": 0.5}
    path = write_snippet(tmp_path / "track.yaml", {"tracker": "argus", "chosen": chosen})
    body = "".join(f"  {line}\n" for line in path.read_text().splitlines())
    config = load_config(Path("cfg.yaml"), text=f"stages:\n  - type: pose\n{body}")
    track = config.stages[1]
    assert track.type == "track" and track.tracker == "argus"
    tracker = TrackStage(track)._new_tracker(track)
    for key, value in chosen.items():
        assert getattr(tracker, key) == value, key
    assert "tracker: bytetrack" in snippet("bytetrack", {})


def test_tracking_tune_end_to_end_on_synthetic_sequences(tmp_path: Path) -> None:
    pytest.importorskip("trackeval")
    pytest.importorskip("trackers")
    for name in ("S1", "S2"):
        write_sequence(tmp_path, name, frames=30, people=4)
    spec = DetectorSpec("sim-x", "shifted", recall=0.9, half_height=30, fp_per_frame=0.5)
    report = tune(tmp_path, folds=2, trials=2, progress=False, detectors=(spec,), peers=("bytetrack-rf",))
    assert report["units"] == ["S1+public", "S1+sim-x", "S2+public", "S2+sim-x"]
    rows = report["held_out"]
    assert set(rows) >= {"argus defaults", "argus tuned (CV)", "bytetrack-rf"}
    for row in rows.values():
        assert set(row["per_sequence"]) == {"S1", "S2"} and set(row["per_detector"]) == {"public", "sim-x"}
        assert 0 <= row["combined"]["HOTA"] <= 100
    assert rows["argus defaults"]["combined"]["HOTA"] > 30  # easy synthetic walkers
    assert set(report["cv_choices"]) == set(report["units"])
    with pytest.raises(ValueError, match="more than the 2 sequences"):
        tune(tmp_path, folds=3, trials=1, progress=False, detectors=(spec,), peers=())


def test_tracking_tune_cli_names_a_bad_data_dir(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    result = run_cli("track", "tune", str(missing), "--json", timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and str(missing) in result.stderr
    (tmp_path / "empty").mkdir()
    result = run_cli("track", "tune", str(tmp_path / "empty"), timeout=60)
    assert result.returncode == 2 and str(tmp_path / "empty") in result.stderr
    assert result.stderr.strip().count("\n") == 0
