"""Runs the stages in order over a batch, timing each and containing its failures.

Motion gating: a stage whose class sets `motion_gated = True` (the model stages and the tracker)
runs only on the packets that are not `still`; each still packet then takes the rows that stage
left on the last packet of its stream it did run on (`pipeline/motion.py`).

A stage that raises on a batch is logged once per distinct error (repeats are counted, not
repeated), a `stage_error` event goes to every source in the batch, and the packets go on with
what earlier stages found. Only `max_stage_errors` consecutive failures of one stage end the run.

Streaming: a stage with the optional `stream(packets) -> Iterator[Packet]` hook takes the packets as
the stage before it hands them on and yields each one as soon as it is done with it; a stage without
it takes the whole batch (`process`). So while the detector's requests for the rest of a batch run on
the inference threads, the tracker already follows the first frames and the top-down pose model starts
on their people: Python work and inference overlap on the same worker thread. With the default config
on vtest.mp4 (2-core AMX Xeon) a whole `run.py run` took 0.971 of the time of a whole batch per stage
without sinks and 0.989 with them (5 pairs alternated, medians, model loading included): the process
is CPU-bound, so overlap buys little there. Batches with still (motion-gated) frames take the stages
one whole batch at a time, as the gating needs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from pipeline.stage import Stage, stage_hook
from pipeline.stats import RunStats
from pipeline.types import Detections, Event, EventType, ModelFacts, Packet

log = logging.getLogger("argus")


@dataclass
class StageSlot:
    """One stage in the chain, under its config id, with its failure counters."""

    id: str
    stage: Stage
    errors: int = 0
    consecutive: int = 0
    last_error: str = ""
    repeats: int = 0
    sources_failed: set[str] = field(default_factory=set)
    owned: bool = True  # False: the caller passed the stage in and closes it (Pipeline(stages=...))

    def close(self) -> None:
        """Close the stage unless the caller owns it; failures are logged, not raised."""
        if self.owned:
            close_stage(self.id, self.stage)


class StageChain:
    """The ordered stages of a running pipeline. Called from the worker thread only."""

    def __init__(self, slots: list[StageSlot], stats: RunStats,
                 observe: Callable[[str, float], None] | None = None) -> None:
        self.slots = slots
        self.stats = stats
        self.observe = observe  # (stage id, seconds): the metrics histogram
        self.max_consecutive = 0  # worst current streak of failures, for the stop rule
        # (stage id, stream) -> the rows and model facts that stage left on the last packet it ran on
        self._carried: dict[tuple[str, str], tuple[Detections, ModelFacts | None]] = {}

    def replace(self, slots: list[StageSlot]) -> None:
        """Run these stages from the next batch on (a hot reload's swap, on the worker thread)."""
        self.slots = list(slots)
        self.max_consecutive = max((s.consecutive for s in self.slots), default=0)

    def process(self, packets: list[Packet]) -> list[Packet]:
        """Every stage over the batch; a failing stage leaves the packets as they were."""
        if not any(p.still for p in packets) and any(stage_hook(s.stage, "stream") for s in self.slots):
            return self._streamed(packets)
        for slot in self.slots:
            gated = getattr(slot.stage, "motion_gated", False) and any(p.still for p in packets)
            run = [p for p in packets if not p.still] if gated else packets
            start = time.perf_counter()
            if run:
                try:
                    done = slot.stage.process(run)
                    slot.consecutive = 0
                except Exception as exc:  # contained: the batch goes on without this stage
                    self._failed(slot, exc, run)
                    done = run
                packets = self._merge(packets, done) if gated else done
            self._timed(slot, time.perf_counter() - start, run)
            if gated:
                self.stats.timing(slot.id).skipped += len(packets) - len(run)
            if getattr(slot.stage, "motion_gated", False):
                self._carry(slot.id, slot.stage, packets)
        self.max_consecutive = max((s.consecutive for s in self.slots), default=0)
        return packets

    def _streamed(self, packets: list[Packet]) -> list[Packet]:
        """Every stage over the batch, each packet handed on as soon as a stage yields it (module
        docstring); the packets come back in the batch's order."""
        flow: Iterator[Packet] = iter(packets)
        for slot in self.slots:
            flow = self._guarded(slot, flow)
        done = list(flow)
        order = {id(p): i for i, p in enumerate(packets)}
        done.sort(key=lambda p: order.get(id(p), len(order)))
        self.max_consecutive = max((s.consecutive for s in self.slots), default=0)
        return done

    def _guarded(self, slot: StageSlot, upstream: Iterator[Packet]) -> Iterator[Packet]:
        """`slot`'s stage over the packets `upstream` yields, timed (its own time, not upstream's) and
        contained: after an error, the packets it took and the rest go on without it."""
        taken: list[Packet] = []
        upstream_s = 0.0

        def feed() -> Iterator[Packet]:
            nonlocal upstream_s
            while True:
                start = time.perf_counter()
                packet = next(upstream, None)
                upstream_s += time.perf_counter() - start
                if packet is None:
                    return
                taken.append(packet)
                yield packet

        stream = stage_hook(slot.stage, "stream")
        work = stream(feed()) if stream is not None else iter(_whole_batch(slot.stage, feed()))
        gated = getattr(slot.stage, "motion_gated", False)
        given: set[int] = set()
        elapsed = 0.0
        while True:
            start, before = time.perf_counter(), upstream_s
            try:
                packet = next(work, None)
            except Exception as exc:  # contained: the rest of the batch goes on without this stage
                elapsed += time.perf_counter() - start - (upstream_s - before)
                self._failed(slot, exc, taken)
                rest = [p for p in taken if id(p) not in given]
                self._timed(slot, elapsed, taken)
                yield from rest
                yield from upstream
                return
            elapsed += time.perf_counter() - start - (upstream_s - before)
            if packet is None:
                break
            given.add(id(packet))
            if gated:  # what a later still frame of this stream takes
                self._carry(slot.id, slot.stage, [packet])
            yield packet
        slot.consecutive = 0
        self._timed(slot, elapsed, taken)

    def _timed(self, slot: StageSlot, elapsed: float, packets: list[Packet]) -> None:
        """Record `slot`'s time over `packets` (run stats, the metrics hook, each packet's share)."""
        self.stats.timing(slot.id).add(elapsed, len(packets))
        if self.observe is not None:
            self.observe(slot.id, elapsed)
        share = 1000.0 * elapsed / max(1, len(packets))
        for packet in packets:
            packet.timings[slot.id] = share

    @staticmethod
    def _merge(packets: list[Packet], done: list[Packet]) -> list[Packet]:
        """`packets` with the ones that were run replaced, in order, by what the stage returned."""
        results = iter(done)
        return [p if p.still else next(results) for p in packets]

    def _carry(self, slot_id: str, stage: Stage, packets: list[Packet]) -> None:
        """Remember what the stage left on the packets it ran on; each still packet takes the rows (and model
        facts) of the last packet of its stream it ran on (earlier in this batch, else in an earlier one),
        and the stage's `on_still` hook hears of it."""
        on_still = getattr(stage, "on_still", None)
        for packet in packets:
            key = (slot_id, packet.frame.source_id)
            if not packet.still:
                self._carried[key] = (packet.detections, packet.detector)
                continue
            if (last := self._carried.get(key)) is not None:
                packet.detections, packet.detector = last
            if on_still is not None:
                on_still(packet)

    def _failed(self, slot: StageSlot, exc: Exception, packets: Sequence[Packet]) -> None:
        slot.errors += 1
        slot.consecutive += 1
        self.stats.stage_errors[slot.id] = slot.errors
        error = f"{type(exc).__name__}: {exc}"
        sources = sorted({p.frame.source_id for p in packets})
        if error == slot.last_error:
            slot.repeats += 1
            log.debug("stage '%s' failed again (%d): %s", slot.id, slot.repeats, error)
        else:
            if slot.repeats:
                log.error("stage '%s': the previous error repeated %d more times", slot.id, slot.repeats)
            slot.last_error, slot.repeats = error, 0
            log.error("stage '%s' failed on a batch of %s: %s (frames go on without it)",
                      slot.id, ", ".join(sources), error)
            log.debug("stage '%s' traceback", slot.id, exc_info=True)
        by_source: dict[str, Packet] = {}
        for packet in packets:
            by_source.setdefault(packet.frame.source_id, packet)
        for source_id, packet in by_source.items():
            packet.events.append(Event(EventType.STAGE_ERROR, source_id, packet.frame.pts_s, packet.frame.index,
                                       payload={"stage": slot.id, "error": error,
                                                "consecutive": slot.consecutive}))

    def end_source(self, source_id: str) -> list[Event]:
        """Every stage forgets `source_id`; returns the events that causes (tracks ended)."""
        for key in [k for k in self._carried if k[1] == source_id]:
            del self._carried[key]
        events: list[Event] = []
        for slot in self.slots:
            try:
                events.extend(slot.stage.end_source(source_id))
            except Exception as exc:
                log.error("stage '%s': ending source '%s' failed: %s: %s", slot.id, source_id,
                          type(exc).__name__, exc)
        return events

    def summary(self) -> dict[str, int]:
        """Stage id -> batches it failed on."""
        return {s.id: s.errors for s in self.slots if s.errors}


def _whole_batch(stage: Stage, packets: Iterator[Packet]) -> list[Packet]:
    """A stage without `stream`: it takes the whole batch once every packet has reached it."""
    return stage.process(list(packets))


def close_stage(slot_id: str, stage: Stage) -> None:
    """Close a stage, logging (not raising) what goes wrong."""
    try:
        stage.close()
    except Exception as exc:
        log.error("stage '%s': close failed: %s: %s", slot_id, type(exc).__name__, exc)
