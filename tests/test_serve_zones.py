"""The editor's lines and zones: the YAML text edit behind "Apply lines and zones" and its API.

The edit changes only the zones stage's `lines:` / `zones:` items (comments and the rest of the
text as written), appends a zones stage when there is none, and always parses to the intended
config (a layout it cannot follow falls back to a plain dump).
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import yaml

from argus.cli.serve.safety import InputError
from argus.cli.serve.zones_yaml import check_shapes, read_shapes, set_shapes_text

TEXT = """# one camera at the shop door
sources:
  - {id: cam, uri: demo}
stages:
  - {type: detect, model: yolov8n}   # people and bags
  - type: track
  - type: zones
    anchor: feet   # the ankles
    lines:
      - {id: door, points: [[600, 150], [600, 576]], classes: [person]}  # the shop door
      # the till queue
      - id: till
        points: [[10, 20], [30, 40]]
    zones:
      - {id: lawn, polygon: [[0, 0], [250, 0], [250, 576], [0, 576]], loiter_s: 30}
sinks: [{type: events}]   # events only
"""

DOOR = {"id": "door", "points": [[600, 150], [600, 576]], "classes": ["person"]}
TILL = {"id": "till", "points": [[10, 20], [30, 40]]}
LAWN = {"id": "lawn", "polygon": [[0, 0], [250, 0], [250, 576], [0, 576]], "loiter_s": 30}
NEW = {"id": "exit", "points": [[1, 2], [3, 4]]}


def _stage(text: str) -> dict:
    return next(s for s in yaml.safe_load(text)["stages"] if s.get("type") == "zones")


def _comments(text: str) -> list[str]:
    return [line.split("#", 1)[1] for line in text.splitlines() if "#" in line]


def test_shapes_are_read_as_written() -> None:
    assert read_shapes(TEXT) == [{"stage": 2, "sources": None, "lines": [DOOR, TILL], "zones": [LAWN]}]
    two = "stages:\n  - {type: zones, sources: [a], zones: [" + str(LAWN) + "]}\n  - {type: zones, sources: [b]}\n"
    assert read_shapes(two) == [{"stage": 0, "sources": ["a"], "lines": [], "zones": [LAWN]},
                                {"stage": 1, "sources": ["b"], "lines": [], "zones": []}]
    assert read_shapes("stages: [{type: track}]") == []
    assert read_shapes("stages: [\n") == []  # mid-edit: nothing to draw
    assert read_shapes("") == []


def test_the_zones_stage_watching_the_source_is_edited() -> None:
    two = "stages:\n  - type: zones   # front\n    sources: [a]\n  - type: zones   # back\n    sources: [b, c]\n"
    out = set_shapes_text(two, [NEW], [], source="c")
    assert yaml.safe_load(out)["stages"] == [{"type": "zones", "sources": ["a"]},
                                             {"type": "zones", "sources": ["b", "c"], "lines": [NEW]}]
    assert "# front" in out and "# back" in out
    out = set_shapes_text(two, [], [LAWN], source="d")  # no stage watches d: one for d alone
    assert yaml.safe_load(out)["stages"][2] == {"type": "zones", "sources": ["d"], "zones": [LAWN]}
    out = set_shapes_text(TEXT, [NEW], [], source="any")  # a stage without `sources:` watches every source
    assert _stage(out) == {"type": "zones", "anchor": "feet", "lines": [NEW]}


def test_unchanged_items_and_every_comment_stay() -> None:
    moved = {**DOOR, "points": [[610, 150], [600, 576]]}
    out = set_shapes_text(TEXT, [moved, TILL, NEW], [LAWN])
    assert _stage(out)["lines"] == [moved, TILL, NEW] and _stage(out)["zones"] == [LAWN]
    assert _comments(out) == _comments(TEXT)
    assert "      - {id: door, points: [[610, 150], [600, 576]], classes: [person]}  # the shop door\n" in out
    added = "      - {id: exit, points: [[1, 2], [3, 4]]}\n"
    assert "      - id: till\n        points: [[10, 20], [30, 40]]\n" + added in out
    assert out.replace("610", "600").replace(added, "") == TEXT


def test_removed_and_renamed_items() -> None:
    out = set_shapes_text(TEXT, [TILL], [{**LAWN, "id": "grass"}])
    assert _stage(out)["lines"] == [TILL] and _stage(out)["zones"][0]["id"] == "grass"
    assert "id: door" not in out and "# the shop door" not in out  # its line went with it
    assert "# the till queue" in out and "# the ankles" in out and "# events only" in out
    out = set_shapes_text(TEXT, [], [LAWN])  # no lines left: the key goes
    assert "lines" not in _stage(out) and _stage(out)["zones"] == [LAWN] and "# events only" in out


def test_a_zones_stage_is_added_when_there_is_none() -> None:
    text = "# demo\nsources: [{id: cam, uri: demo}]\nstages:\n  - type: detect   # the detector\n  - type: track\n" \
           "sinks: []  # none\n"
    out = set_shapes_text(text, [NEW], [LAWN])
    assert yaml.safe_load(out)["stages"] == [{"type": "detect"}, {"type": "track"},
                                             {"type": "zones", "lines": [NEW], "zones": [LAWN]}]
    assert out.startswith(text.split("sinks")[0]) and out.endswith("sinks: []  # none\n")
    out = set_shapes_text("# demo\nstages: []  # nothing yet\n", [NEW], [])
    assert yaml.safe_load(out)["stages"] == [{"type": "zones", "lines": [NEW]}] and "# demo" in out
    out = set_shapes_text("# only a source\nsources: [{id: cam, uri: demo}]", [NEW], [])  # default stages kept
    stages = yaml.safe_load(out)["stages"]
    assert [s["type"] for s in stages] == ["detect", "track", "pose", "zones"] and out.startswith("# only a source\n")


def test_a_flow_style_stage_becomes_a_block_and_odd_layouts_still_parse() -> None:
    out = set_shapes_text("stages:\n  - {type: track}\n  - {type: zones, anchor: center}  # z\n", [NEW], [])
    assert yaml.safe_load(out)["stages"][1] == {"type": "zones", "anchor": "center", "lines": [NEW]}
    assert "# z" in out and "  - type: zones\n    anchor: center\n" in out
    out = set_shapes_text("{stages: [{type: track}, {type: zones, lines: [" + str(DOOR) + "]}]}", [NEW], [LAWN])
    assert yaml.safe_load(out)["stages"][1] == {"type": "zones", "lines": [NEW], "zones": [LAWN]}
    out = set_shapes_text(TEXT, [TILL, DOOR], [LAWN])  # reordered: the list is written again
    assert _stage(out)["lines"] == [TILL, DOOR] and "# events only" in out


def test_random_edits_always_give_the_intended_config() -> None:
    rng = random.Random(7)
    pool = [DOOR, TILL, NEW] + [{"id": f"l{i}", "points": [[i, i], [i + 5, i + 9]]} for i in range(4)]
    zones = [LAWN] + [{"id": f"z{i}", "polygon": [[0, 0], [i + 9, 0], [0, i + 9]]} for i in range(3)]
    text = TEXT
    for _ in range(60):
        lines = [dict(e, points=[[rng.randint(0, 9), 0], [5, 5]]) if rng.random() < 0.2 else e
                 for e in rng.sample(pool, rng.randint(0, 4))]
        chosen = rng.sample(zones, rng.randint(0, 3))
        out = set_shapes_text(text, lines, chosen)
        stage = _stage(out)
        assert stage.get("lines", []) == lines and stage.get("zones", []) == chosen and stage["anchor"] == "feet"
        assert out.startswith("# one camera at the shop door\n") and out.endswith("# events only\n")
        text = out


def test_bad_requests_are_one_line_errors() -> None:
    cases = [(lambda: check_shapes("lines", [{"points": [[0, 0], [1, 1]]}]), 422, "lines[0] needs an 'id'"),
             (lambda: check_shapes("zones", {"id": "x"}), 422, "'zones' must be a list"),
             (lambda: check_shapes("zones", [{"id": "x", "polygon": [[[[[[[[1]]]]]]]]}]), 422, "nested too deeply"),
             (lambda: set_shapes_text("stages: [\n", [NEW], []), 409, "fix the YAML errors"),
             (lambda: set_shapes_text("stages: {a: 1}\n", [NEW], []), 409, "'stages' is not a list"),
             (lambda: set_shapes_text("- a\n", [NEW], []), 409, "not a mapping")]
    for call, status, words in cases:
        with pytest.raises(InputError, match=words.replace("[", r"\[")) as info:
            call()
        assert info.value.status == status and "\n" not in info.value.reason
    assert check_shapes("lines", None) == []


def test_api_writes_shapes_into_the_text_and_check_returns_them(tmp_path: Path) -> None:
    pytest.importorskip("fastapi")
    pytest.importorskip("uvicorn")
    from tests.test_serve_api import Served, pipeline_yaml

    text = pipeline_yaml(tmp_path)
    server = Served(None, text)
    try:
        response = server.client.post("/api/config/zones", json={"yaml": text, "source": "a", "lines": [NEW],
                                                                 "zones": []})
        assert response.status_code == 200
        out = response.json()["yaml"]
        assert out.startswith("# two looping sources\n") and _stage(out) == {"type": "zones", "lines": [NEW]}
        checked = server.client.post("/api/config/check", json={"yaml": out}).json()
        assert checked["shapes"] == [{"stage": 0, "sources": None, "lines": [NEW], "zones": []}]
        assert server.client.get("/api/config").json()["yaml"] == text  # only the text: nothing applied
        bad = server.client.post("/api/config/zones", json={"yaml": text, "lines": [{"points": []}]})
        assert bad.status_code == 422 and bad.json() == {"detail": "lines[0] needs an 'id' (name it before applying)"}
    finally:
        server.close()
