"""A plugin package that lives outside the core (tests/plugin_example) adds a source kind, a stage
with its own event type and a sink, and runs in a real Pipeline with no edit to the core."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from pipeline import EXIT_OK, Pipeline
from pipeline.config import load_config
from pipeline.config_reference import config_reference, config_schema_with_events
from pipeline.errors import ArgusError, ConfigError
from pipeline.registry import Registry, default_registry
from tests.conftest import ROOT
from tests.plugin_example import ZONE_ENTERED, register
from tests.plugin_example.pattern import PatternSource, PatternSourceConfig
from tests.plugin_example.zones import ZONE_FIELDS

CONFIG = """
sources:
  - {id: cam, uri: "pattern://square", frames: 40}
stages:
  - {type: blob_zones, zones: {left: [0, 0, 40, 120], door: [100, 0, 160, 120]}}
sinks:
  - {type: events, path: events.jsonl}
  - {type: events, path: events.db}
  - {type: collect, path: zones.jsonl, types: [blob_entered]}
runner: {progress: false}
"""


def plugin_registry() -> Registry:
    """The installed plugins plus the example, as a second `argus.plugins` entry point would give."""
    registry = default_registry().copy()
    register(registry)
    return registry


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_plugin_stage_source_sink_and_event_type_run_in_a_pipeline(tmp_path: Path) -> None:
    config = load_config(text=CONFIG, replace={"output_dir": str(tmp_path)}, registry=plugin_registry())
    pipeline = Pipeline(config, registry=plugin_registry())
    assert pipeline.run() == EXIT_OK

    events = read_jsonl(tmp_path / "events.jsonl")
    assert events[0]["type"] == "stream_opened" and events[-1]["type"] == "stream_ended"
    zones = [e for e in events if e["type"] == ZONE_ENTERED]
    source = PatternSource(PatternSourceConfig(id="cam", uri="pattern://square", frames=40))
    door = next(i for i in range(40) if source.square_x(i) + 8 >= 100)  # the square's centre reaches x 100
    assert [(e["zone"], e["frame_index"]) for e in zones] == [("left", 0), ("door", door)]
    assert set(zones[0]) >= {"id", "source", "wall_time", "pts_s", *ZONE_FIELDS}

    assert read_jsonl(tmp_path / "zones.jsonl") == zones  # the plugin's own sink, filtered by type
    with sqlite3.connect(tmp_path / "events.db") as db:
        rows = db.execute("SELECT type, json_extract(payload, '$.zone') FROM events WHERE type = ?",
                          (ZONE_ENTERED,)).fetchall()
    assert rows == [(ZONE_ENTERED, "left"), (ZONE_ENTERED, "door")]
    assert pipeline.stats()["sources"]["cam"]["frames"] == 40


def test_plugin_source_chosen_by_scheme_or_kind_with_one_line_errors() -> None:
    registry = plugin_registry()
    config = load_config(text="sources:\n  - {id: a, uri: 'pattern://square'}\n  - {id: b, uri: demo}\n",
                         registry=registry)
    assert [(type(s).__name__, s.kind) for s in config.sources] == [
        ("PatternSourceConfig", "pattern"), ("DemoSourceConfig", "demo")]
    with pytest.raises(ConfigError) as bad_key:
        load_config(Path("cfg.yaml"), text="sources:\n  - id: a\n    uri: pattern://square\n    frame: 3\n",
                    registry=registry)
    assert str(bad_key.value).splitlines() == [
        "cfg.yaml:4: sources.0.frame: unknown key 'frame' (did you mean 'frames'?)"]
    with pytest.raises(ConfigError) as bad_uri:
        load_config(Path("cfg.yaml"), text="sources:\n  - {id: a, uri: 'x.mp4', kind: pattern}\n", registry=registry)
    assert str(bad_uri.value).splitlines() == [
        "cfg.yaml:2: sources.0.uri: the only pattern is pattern://square"]


def test_plugin_event_type_is_listed_by_schema_and_reference() -> None:
    registry = plugin_registry()
    listed = config_schema_with_events(registry)["x-argus-event-types"]
    assert listed[ZONE_ENTERED]["fields"] == ZONE_FIELDS and listed[ZONE_ENTERED]["origin"] == "tests.plugin_example"
    assert {"stream_opened", "face_recognized", "action_started", "action_ended"} <= set(listed)
    reference = config_reference(registry)
    assert f"| `{ZONE_ENTERED}` | tests.plugin_example |" in reference and "**source `kind: pattern`**" in reference
    assert "sink `type: collect`" in reference and "stage `type: blob_zones`" in reference


def test_plugin_leaves_the_installed_registry_and_the_core_alone() -> None:
    plugin_registry()
    installed = default_registry()
    assert "pattern" not in installed.sources and ZONE_ENTERED not in installed.event_types
    for package in ("pipeline", "stages", "engines", "cli"):  # nothing outside tests/ names the plugin
        for path in (ROOT / package).rglob("*.py"):
            assert "plugin_example" not in path.read_text(), path


def test_registration_clashes_are_errors() -> None:
    registry = plugin_registry()
    register(registry.copy())  # another copy: fine
    registry.add_event_type(ZONE_ENTERED, ZONE_FIELDS, "again, same fields")  # idempotent
    with pytest.raises(ArgusError, match="already registered"):
        registry.add_event_type(ZONE_ENTERED, {"other": "field"})
    with pytest.raises(ArgusError, match="already registered by core"):
        registry.add_event_type("stream_opened", {})
    with pytest.raises(ArgusError, match="already read by kind 'rtsp'"):
        registry.add_source("pattern", PatternSourceConfig, PatternSource, schemes=("rtsp",))
    with pytest.raises(ArgusError, match="must declare kind"):
        registry.add_source("other", PatternSourceConfig, PatternSource)
    with pytest.raises(ValueError, match="lower_snake_case"):
        registry.add_event_type("Zone Entered")
