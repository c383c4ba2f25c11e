"""`run.py bench VERB`: one sub-parser per benchmark with only its own options; every bench command
line in the README parses; the shared-data location is resolved in one place."""

from __future__ import annotations

import argparse
import json
import re
import shlex
from pathlib import Path

import pytest

from argus.cli.bench import VERBS
from argus.cli.main import build_parser, main
from argus.tools.shared_data import shared_data, vtest
from tests.conftest import ROOT

PLACEHOLDERS = {"VIDEO": "clip.mp4", "N": "10", "DATA_DIR": "mot"}


def _parse(line: str) -> argparse.Namespace:
    return build_parser().parse_args(shlex.split(line))


def _readme_bench_lines() -> list[str]:
    """Every `bench ...` (or `faces bench` / `actions bench`) command in the README's and the docs' code spans and
    blocks, whitespace joined, optional `[...]` parts kept, placeholders filled in."""
    text = "\n".join(page.read_text() for page in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))])
    found = re.findall(r"`(?:python run\.py\s+)?((?:bench|faces\s+bench|actions\s+bench)\s[^`]*)`", text)
    found += re.findall(r"^python run\.py ((?:bench|faces bench|actions bench) .*)$", text, re.M)
    lines = []
    for command in found:
        words = [PLACEHOLDERS.get(w, w) for w in command.replace("[", " ").replace("]", " ").split()]
        if "VERB" not in words:
            lines.append(" ".join(words))
    return lines


def test_every_benchmark_is_a_bench_verb() -> None:
    assert set(VERBS) == {"pipeline", "streams", "engines", "reid", "tracker", "soak", "faces", "actions", "ray",
                          "detection", "serve", "zones", "motion", "clips"}
    for name in VERBS:
        args = _parse(f"bench {name} --json")
        assert args.bench_verb == name and args.json is True and callable(args.func)


@pytest.mark.parametrize("line", ["bench tracker --rounds 3", "bench pipeline --minutes 5",
                                  "bench actions --source clip.mp4", "bench soak --compare none",
                                  "bench serve --frames 10", "bench ray --gaps 10"])
def test_an_option_of_another_verb_is_refused(line: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        _parse(line)
    assert exc.value.code == 2
    assert "unrecognized arguments" in capsys.readouterr().err


@pytest.mark.parametrize("name", sorted(VERBS))
def test_each_verb_has_its_own_help(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        _parse(f"bench {name} --help")
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: argus bench {name} ") and "--json" in out
    if name != "pipeline":
        assert "--sinks" not in out  # pipeline's own option stays there


def test_the_readme_bench_command_lines_parse() -> None:
    lines = _readme_bench_lines()
    assert any(line.startswith("bench pipeline --source clip.mp4 --frames 10 --compare ultralytics-openvino")
               for line in lines), lines
    assert {line.split()[1] if line.startswith("bench") else line.split()[0] for line in lines} >= {
        "pipeline", "streams", "engines", "reid", "tracker", "soak", "faces", "actions", "ray", "serve"}
    for line in lines:
        args = _parse(line)
        assert callable(args.func), line


def test_the_pipeline_line_keeps_its_options() -> None:
    args = _parse("bench pipeline --source v.mp4 --frames 50 --compare ultralytics-openvino --rounds 3 --json")
    assert (args.source, args.frames, args.compare, args.rounds, args.json) == (
        "v.mp4", 50, "ultralytics-openvino", 3, True)


def test_faces_and_actions_bench_are_the_bench_verbs() -> None:
    faces = _parse("faces bench --source v.mp4 --frames 5 --json")
    assert faces.func.args[0] is VERBS["faces"] and faces.frames == 5
    actions = _parse("actions bench --model rules --tracks 2")
    assert actions.func.args[0] is VERBS["actions"] and actions.tracks == 2


def test_bench_actions_runs_from_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    """The wiring end to end on the cheapest benchmark (rules, 2 tracks, 3 frames: not a measurement)."""
    assert main(["bench", "actions", "--model", "rules", "--tracks", "2", "--frames", "3", "--rounds", "1",
                 "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["model"] == "rules" and result["tracks"] == 2 and result["batched_ms_per_frame"] > 0


def test_bench_tracker_names_a_missing_data_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "tracker", str(tmp_path / "absent")]) == 2
    assert "MOT data folder not found" in capsys.readouterr().err


def test_shared_data_comes_from_the_environment_or_beside_the_repo(monkeypatch: pytest.MonkeyPatch,
                                                                  tmp_path: Path) -> None:
    monkeypatch.setenv("ARGUS_SHARED_DATA", str(tmp_path))
    assert shared_data("faces") == tmp_path / "faces" and vtest() == tmp_path / "video" / "vtest.mp4"
    monkeypatch.delenv("ARGUS_SHARED_DATA")
    assert shared_data() == ROOT.parent / "shared" / "data"


def test_no_command_hard_codes_the_shared_data_path() -> None:
    for folder in ("cli", "benchmarks", "tools"):
        for path in (ROOT / folder).rglob("*.py"):
            if path.name == "shared_data.py":  # the one place
                continue
            assert "../shared/data" not in path.read_text(), f"{path}: use tools.shared_data"
