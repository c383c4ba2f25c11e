"""Feeds every sink, containing failures: a sink that raises is closed and reported, the others go on."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from pipeline.sink import Sink
from pipeline.stats import RunStats
from pipeline.types import Event, EventType

log = logging.getLogger("argus")


@dataclass
class SinkSlot:
    """One sink under its config id."""

    id: str
    sink: Sink
    type: str = ""


class SinkSet:
    """The live sinks of a running pipeline. Called from the worker thread only."""

    def __init__(self, slots: list[SinkSlot], stats: RunStats) -> None:
        self.slots = slots
        self.stats = stats

    def call(self, method: str, *args: object) -> None:
        """`sink.method(*args)` on every sink; one that raises is closed, reported and dropped."""
        failed: list[tuple[SinkSlot, str]] = []
        for slot in self.slots:
            try:
                getattr(slot.sink, method)(*args)
            except Exception as exc:
                failed.append((slot, f"{type(exc).__name__}: {exc}"))
        for slot, error in failed:
            self._drop(slot, f"{method} failed: {error}")

    def events(self, events: Sequence[Event]) -> None:
        if events:
            self.call("write_events", events)

    def _drop(self, slot: SinkSlot, error: str) -> None:
        log.error("sink '%s': %s; closing it, the other sinks carry on", slot.id, error)
        self.stats.failed_sinks[slot.id] = error
        self.slots.remove(slot)
        close_sink(slot)
        self.events([Event(EventType.SINK_ERROR, "*", payload={"sink": slot.id, "error": error})])

    def close_all(self) -> None:
        for slot in list(self.slots):
            close_sink(slot)
            waiting = getattr(slot.sink, "outbox_size", None)
            if waiting is not None:
                self.stats.outbox[slot.id] = int(waiting)
        self.slots = []


def close_sink(slot: SinkSlot) -> None:
    """Close a sink, logging (not raising) what goes wrong; its files are left as complete as it could."""
    try:
        slot.sink.close()
    except Exception as exc:
        log.error("sink '%s': close failed: %s: %s", slot.id, type(exc).__name__, exc)
