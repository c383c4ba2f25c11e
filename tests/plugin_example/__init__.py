"""An example third-party Argus plugin, kept inside the tests: nothing in the core names it.

It adds a source kind (`pattern://`, synthetic frames), a stage with its own event type
(`blob_zones`, raising `blob_entered`) and a sink (`collect`, events to a JSON Lines file).
`register(registry)` is what an `argus.plugins` entry point of a separate package would point at.
"""

from __future__ import annotations

from pipeline.registry import Registry
from tests.plugin_example.collect import CollectConfig, CollectSink
from tests.plugin_example.pattern import PatternSource, PatternSourceConfig
from tests.plugin_example.zones import ZONE_ENTERED, ZONE_FIELDS, ZoneConfig, ZoneStage

__all__ = ["ZONE_ENTERED", "register"]


def register(registry: Registry) -> None:
    """Add the example's source kind, stage, sink and event type to `registry`."""
    registry.add_source("pattern", PatternSourceConfig, PatternSource, schemes=("pattern",))
    registry.add_stage("blob_zones", ZoneConfig, ZoneStage)
    registry.add_sink("collect", CollectConfig, CollectSink)
    registry.add_event_type(ZONE_ENTERED, ZONE_FIELDS, "The bright square's centre entered a zone.",
                            origin="tests.plugin_example")
