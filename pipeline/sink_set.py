"""Feeds every sink, containing failures: a sink that raises is closed and reported, the others go on.

A sink may make events of its own (the clips sink's `clip_saved`) through the optional hook
`take_events() -> list[Event]`: after every call into the sinks, the events each sink made are
delivered to every sink (the one that made them included, so it must not make more in reply to
its own) and to `on_emitted` (the worker's event subscribers). Events made in `close()` are lost.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.sink import Sink
from pipeline.source import StreamStart
from pipeline.stats import RunStats
from pipeline.types import Event, EventType, Packet

log = logging.getLogger("argus")


@dataclass
class SinkSlot:
    """One sink under its config id."""

    id: str
    sink: Sink
    type: str = ""


class SinkSet:
    """The live sinks of a running pipeline. Called from the worker thread (or output lane) only.

    Args:
        slots: the sinks, in config order.
        stats: where failures and outbox sizes are recorded.
        event_types: the registered event type names; an event of another type is still delivered,
            with one warning per type (None: no check).
    """

    def __init__(self, slots: list[SinkSlot], stats: RunStats, event_types: Collection[str] | None = None) -> None:
        self.slots = slots
        self.stats = stats
        self.event_types = event_types
        self.on_emitted: Callable[[Sequence[Event]], None] | None = None  # where sink-made events also go
        self._unregistered: set[str] = set()

    def replace(self, slots: list[SinkSlot]) -> None:
        """Feed these sinks from now on (a hot reload's swap; the caller closes the ones left out)."""
        self.slots = list(slots)

    def start_source(self, start: StreamStart) -> None:
        self._each("start_source", lambda sink: sink.start_source(start))

    def write(self, packet: Packet) -> None:
        self._each("write", lambda sink: sink.write(packet))

    def events(self, events: Sequence[Event]) -> None:
        if events:
            self._check_types(events)
            self._each("write_events", lambda sink: sink.write_events(events))

    def end_source(self, source_id: str) -> None:
        self._each("end_source", lambda sink: sink.end_source(source_id))

    def _each(self, method: str, call: Callable[[Sink], None]) -> None:
        """`call(sink)` on every sink; one that raises is closed, reported and dropped."""
        failed: list[tuple[SinkSlot, str]] = []
        for slot in self.slots:
            try:
                call(slot.sink)
            except Exception as exc:
                failed.append((slot, f"{type(exc).__name__}: {exc}"))
        for slot, error in failed:
            self._drop(slot, f"{method} failed: {error}")
        self._forward_made()

    def _forward_made(self) -> None:
        """Deliver the events sinks made (`take_events`), see the module doc."""
        made = [event for slot in self.slots for event in _made_events(slot.sink)]
        if made:
            self.events(made)
            if self.on_emitted is not None:
                self.on_emitted(made)

    def _check_types(self, events: Sequence[Event]) -> None:
        if self.event_types is None:
            return
        for event in events:
            if event.type not in self.event_types and event.type not in self._unregistered:
                self._unregistered.add(event.type)
                log.warning("event type '%s' is not registered (its plugin should call "
                            "registry.add_event_type); delivered anyway", event.type)

    def _drop(self, slot: SinkSlot, error: str) -> None:
        log.error("sink '%s': %s; closing it, the other sinks carry on", slot.id, error)
        self.stats.failed_sinks[slot.id] = error
        self.slots.remove(slot)
        close_sink(slot)
        self.events([Event(EventType.SINK_ERROR, "*", payload={"sink": slot.id, "error": error})])

    def close_all(self) -> None:
        """Close every sink; record outboxes left and the failures a sink contained itself (its `stats()`
        counts `errors`: the clips sink on a full disk), which make the run's exit code 1."""
        for slot in list(self.slots):
            close_sink(slot)
            waiting = getattr(slot.sink, "outbox_size", None)
            if waiting is not None:
                self.stats.outbox[slot.id] = int(waiting)
            contained = _contained_errors(slot.sink)
            if contained:
                self.stats.sink_errors[slot.id] = contained
        self.slots = []


def sink_stats(sink: Sink) -> dict[str, Any]:
    """The counts a sink keeps itself (its optional `stats()` hook, e.g. the clips sink's), else {}."""
    hook = getattr(sink, "stats", None)
    return dict(hook()) if callable(hook) else {}


def _contained_errors(sink: Sink) -> str | None:
    """'N failure(s), the last: ...' for a sink whose `stats()` counts errors it went on after, else None."""
    try:
        counts = sink_stats(sink)
    except Exception:  # a broken stats hook must not break closing
        return None
    errors = int(counts.get("errors") or 0)
    return f"{errors} failure(s), the last: {counts.get('last_error')}" if errors else None


def _made_events(sink: Sink) -> list[Event]:
    take = getattr(sink, "take_events", None)
    return list(take()) if callable(take) else []


def close_sink(slot: SinkSlot) -> None:
    """Close a sink, logging (not raising) what goes wrong; its files are left as complete as it could."""
    try:
        slot.sink.close()
    except Exception as exc:
        log.error("sink '%s': close failed: %s: %s", slot.id, type(exc).__name__, exc)
