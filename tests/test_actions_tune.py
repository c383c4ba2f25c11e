"""Tuning the rules' thresholds: names are checked, the search is deterministic and stays in its
grids, and the leave-one-person-out figure never lets a person's clips choose their own thresholds."""

from __future__ import annotations

import json

import pytest
import yaml

from argus.cli.main import main
from tests.test_actions_data import ACTIONS, needs_data


def test_unknown_threshold_is_named_in_config_and_rules() -> None:
    from stages.actions import rules
    from stages.actions.stage import ActionConfig

    with pytest.raises(ValueError, match="fall_dorp"):
        rules.thresholds({"fall_dorp": 0.3})
    with pytest.raises(ValueError, match="fall_dorp"):
        ActionConfig(model="rules", thresholds={"fall_dorp": 0.3})
    with pytest.raises(ValueError, match="rules only"):
        ActionConfig(model="builtin", thresholds={"fall_drop": 0.3})
    assert ActionConfig(model="rules", thresholds={"fall_drop": 0.3}).thresholds == {"fall_drop": 0.3}


def test_thresholds_change_the_decision() -> None:
    from stages.actions import rules

    walking = {"angle": 5.0, "knee_drop": 0.8, "aspect": 0.4, "speed": 0.5, "drop": 0.0, "drop_speed": 0.0,
               "wrist_high": -1.0}
    assert rules.decide(walking)[0] == "walking"
    assert rules.decide(walking, rules.thresholds({"walking_speed": 0.6}))[0] == "standing"
    nan_wrists = {**walking, "wrist_high": float("nan")}
    assert rules.decide(nan_wrists)[0] == "walking"  # no wrist seen never reads as hands up


def test_plateau_middle_prefers_the_widest_run_of_best_scores() -> None:
    from argus.tools.actions.tune import _plateau_middle

    assert _plateau_middle([0.1, 0.5, 0.2, 0.5, 0.5, 0.5, 0.3]) == 4
    assert _plateau_middle([0.9, 0.1, 0.1]) == 0
    assert _plateau_middle([0.2, 0.2, 0.2, 0.2, 0.2]) == 2


@needs_data
def test_tune_writes_a_snippet_the_stage_accepts(tmp_path, capsys) -> None:
    from argus.tools.actions.tune import GRID
    from stages.actions.stage import ActionConfig

    out = tmp_path / "rules.yaml"
    assert main(["actions", "tune", str(ACTIONS), "--sweeps", "1", "--out", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    snippet = yaml.safe_load(out.read_text())
    config = ActionConfig(**snippet)
    assert config.thresholds == report["thresholds"]
    assert all(report["thresholds"][name] in grid for name, grid in GRID.items())
    tuned, default = report["in_sample"]["tuned"], report["in_sample"]["defaults"]
    assert tuned["falls"] == default["falls"] == 7


@needs_data
def test_nested_tuning_never_sees_the_held_out_person(monkeypatch) -> None:
    import functools

    from argus.tools.actions import tune
    from argus.tools.actions.dataset import load_clips
    from argus.tools.actions.labels import read_clips
    from stages.actions.hysteresis import ActionState

    seen: list[set[str]] = []
    real = tune.tune

    def recording(prepared, state, **kwargs):
        seen.append({p.data.clip.person for p in prepared})
        return real(prepared, state, **kwargs)

    monkeypatch.setattr(tune, "tune", recording)
    data = load_clips(read_clips(ACTIONS))
    result, chosen = tune.nested_lopo(data, functools.partial(ActionState), 1.2, 12, sweeps=1)
    persons = {d.clip.person for d in data}
    assert sorted(chosen) == sorted(persons) and len(seen) == len(persons)
    for person, tuned_on in zip(sorted(persons), seen, strict=True):
        assert person not in tuned_on and tuned_on == persons - {person}
    assert result["falls"]["labelled"] == 7 and result["frames"] > 2000
