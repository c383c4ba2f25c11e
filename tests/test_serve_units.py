"""The pieces of `run.py serve` that need no server: input limits, error lines, redaction, source edits."""

from __future__ import annotations

import pytest
import yaml

from argus.cli.serve.errors import Redactor, parse_error_line
from argus.cli.serve.safety import MAX_NODES, InputError, check_yaml_text, decode_json_body
from argus.cli.serve.sources_yaml import add_source_text, remove_source_text

BLOCK = """# cameras
sources:
  - id: a   # the door
    uri: demo
  - id: b
    uri: "rtsp://${env:CAM_USER}@10.0.0.2/s"

stages: []
"""


def _laughs(levels: int, width: int) -> str:
    names = "abcdefghijklmnop"
    lines = [f"a: &a [{', '.join(['x'] * width)}]"]
    lines += [f"{names[i]}: &{names[i]} [{', '.join([f'*{names[i - 1]}'] * width)}]" for i in range(1, levels)]
    return "\n".join(lines)


def test_alias_expansion_is_limited_but_ordinary_aliases_pass() -> None:
    assert check_yaml_text(_laughs(3, 5)) == _laughs(3, 5)  # 155 nodes
    with pytest.raises(InputError, match="expands to more than") as info:
        check_yaml_text(_laughs(9, 9))
    assert info.value.status == 400 and str(MAX_NODES) in info.value.reason
    for text in ("a: &a [*a]", "a: &a {b: *a}"):
        with pytest.raises(InputError, match="recursive"):
            check_yaml_text(text)
    with pytest.raises(InputError, match="nested"):
        check_yaml_text("a: " + "[" * 200 + "]" * 200)
    assert check_yaml_text("sources: [{id: a\n") == "sources: [{id: a\n"  # syntax: left to the loader's line


def test_bodies_are_checked_before_parsing() -> None:
    assert decode_json_body(b'{"yaml": "a: 1"}') == {"yaml": "a: 1"}
    cases = [(b"\xc3\x28", 400, "UTF-8"), (b"[1]", 422, "object"), (b"{", 400, "not JSON"),
             (b"[" * 100_000, 400, "not JSON")]
    for body, status, words in cases:
        with pytest.raises(InputError, match=words) as info:
            decode_json_body(body)
        assert info.value.status == status


def test_error_lines_parse_like_check_prints_them() -> None:
    assert parse_error_line("config:12: stages.0.score_mn: unknown key 'score_mn' (did you mean 'score_min'?)") == {
        "line": 12, "key": "stages.0.score_mn", "message": "unknown key 'score_mn' (did you mean 'score_min'?)"}
    assert parse_error_line("config:3: invalid YAML: expected ',' or '}'")["line"] == 3
    assert parse_error_line("config: sources.0.uri: environment variable X is not set") == {
        "line": None, "key": "sources.0.uri", "message": "environment variable X is not set"}
    assert parse_error_line("source 'a': cannot open x.mp4: no such file")["message"].endswith("no such file")


def test_redactor_removes_env_values_and_url_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAM_USER", "alice-secret")
    redact = Redactor()
    redact.learn(BLOCK)
    assert redact("cannot open rtsp://alice-secret@10.0.0.2/s") == "cannot open rtsp://***@10.0.0.2/s"
    assert redact.deep({"x": ["id alice-secret"]}) == {"x": ["id ***"]}


def test_source_edits_keep_comments_and_env_references() -> None:
    added = add_source_text(BLOCK, {"id": "c", "uri": "rtsp://10.0.0.3/s", "loop": True})
    assert "# the door" in added and "${env:CAM_USER}" in added
    assert '  - {id: c, uri: "rtsp://10.0.0.3/s", loop: true}\n' in added
    assert [s["id"] for s in yaml.safe_load(added)["sources"]] == ["a", "b", "c"]
    removed = remove_source_text(added, "a")
    assert "# cameras" in removed and "# the door" not in removed
    assert [s["id"] for s in yaml.safe_load(removed)["sources"]] == ["b", "c"]
    assert yaml.safe_load(remove_source_text(BLOCK, "b"))["sources"] == [{"id": "a", "uri": "demo"}]
    flow = add_source_text("sources: [{id: a, uri: demo}]\n", {"id": "b", "uri": "demo"})
    assert yaml.safe_load(flow)["sources"] == [{"id": "a", "uri": "demo"}, {"id": "b", "uri": "demo"}]
    with pytest.raises(InputError, match="only source"):
        remove_source_text("sources: [{id: a, uri: demo}]\n", "a")
    with pytest.raises(InputError, match="fix the YAML"):
        add_source_text("sources: [\n", {"id": "b", "uri": "demo"})
