"""`Pipeline.apply`: move a running pipeline to a new config, touching only what changed.

1. Validate the new config (invalid: ConfigError in `check`'s FILE:LINE format, nothing changes).
2. Open new and changed sources (a file that cannot open: nothing changes).
3. Changed stages first try `reconfigure(new)` in place, on the worker thread between two batches
   (state kept: tracks go on). The others are built again *in the caller's thread*, off the worker,
   while frames keep flowing through the old objects (model export, INT8 build, compile), and
   warmed up there on a copy of the latest frames. Sinks that can take a change in place
   (`reconfigure`, e.g. the video sink's annotators) keep their open files.
4. New and changed sinks are opened. Any failure so far undoes steps 2-3 (in-place changes are
   reconfigured back) and raises ReloadError: the old config keeps running.
5. One swap on the worker thread between two batches: stage and sink lists in the new order,
   replaced stages end their open streams (track_ended) and hand over (`take_over`), replaced
   sinks are closed, new sinks see the open streams start; runner settings change in place.
6. Sources: removed ones end (stream_ended, source_removed), changed ones restart, added ones start.
   Untouched sources never stop, lose or reorder a frame. A `config_applied` event ends it.

It works through the public methods of the pipeline's parts (`Worker.call`/`held`, `StageChain.replace`,
`SinkSet.replace`, `Pipeline.build_sinks`), never their fields. `RayPipeline.apply`
(pipeline/ray/reload.py) applies the same plan on each actor and to the driver's sinks.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.config import PipelineConfig, coerce_config
from pipeline.errors import ArgusError
from pipeline.reload import ReloadPlan, plan_reload
from pipeline.sink_set import SinkSlot, close_sink
from pipeline.stage import stage_hook
from pipeline.stage_chain import StageSlot
from pipeline.types import Event, EventType, Frame, Packet

if TYPE_CHECKING:
    from pipeline.pipeline import Pipeline
    from pipeline.readers import SourceReader

log = logging.getLogger("argus")


class ReloadError(ArgusError):
    """A new config validated but could not be brought up (a stage or sink failed to build)."""

    exit_code = 1


def apply_config(pipeline: Pipeline, value: PipelineConfig | dict[str, Any] | str) -> dict[str, Any]:
    """See the module docstring. Returns `{"version": N, "changed": {...}}`."""
    old = pipeline.config
    new = coerce_config(value, pipeline.registry, name="<apply>")
    plan = plan_reload(old, new)
    if plan.empty:
        return {"version": pipeline.version, "changed": {}}
    with pipeline.worker.held():  # the run must not end while a source is swapped
        return _apply(pipeline, old, new, plan)


def _apply(pipeline: Pipeline, old: PipelineConfig, new: PipelineConfig, plan: ReloadPlan) -> dict[str, Any]:
    worker = pipeline.worker
    new_stage_configs = {c.id: c for c in new.stages}
    old_stage_configs = {c.id: c for c in old.stages}
    new_sink_configs = {c.id: c for c in new.sinks}
    sinks_reconfigured: list[str] = []
    opened: dict[str, SourceReader] = {}
    reconfigured: list[str] = []
    built: dict[str, StageSlot] = {}
    sinks: list[SinkSlot] = []
    try:
        for source in new.sources:
            if source.id in plan.sources.added or source.id in plan.sources.changed:
                opened[source.id] = pipeline.sources.open(source)
        slots = {slot.id: slot for slot in worker.chain.slots}
        in_place = [i for i in plan.stages.changed if i in slots]
        reconfigured = worker.call(lambda: reconfigure_in_place(slots, in_place, new_stage_configs)).result()
        for stage_id in [*plan.stages.added, *(i for i in plan.stages.changed if i not in reconfigured)]:
            log.info("hot reload: building stage '%s' (frames keep flowing through the old one)", stage_id)
            try:
                built[stage_id] = StageSlot(stage_id, pipeline.registry.build_stage(new_stage_configs[stage_id]))
                _warm_up(built[stage_id], list(worker.last_frames.values()), new.runner.max_batch)
            except Exception as exc:
                raise ReloadError(f"stage '{stage_id}': rebuild failed, the old config keeps running: "
                                  f"{exc}") from exc
        if pipeline.sinks_enabled:
            sink_slots = {slot.id: slot for slot in worker.sinks.slots}
            same_dir = old.output_dir == new.output_dir
            in_place = [i for i in plan.sinks.changed if i in sink_slots and same_dir]
            sinks_reconfigured = worker.call(
                lambda: reconfigure_in_place(sink_slots, in_place, new_sink_configs)).result()
            wanted = [c for c in new.sinks if c.id in plan.sinks.added
                      or (c.id in plan.sinks.changed and c.id not in sinks_reconfigured)]
            try:
                sinks = pipeline.build_sinks(wanted, Path(new.output_dir))
            except Exception as exc:
                raise ReloadError(f"sinks: cannot open, the old config keeps running: {exc}") from exc
    except BaseException:
        for reader in opened.values():
            reader.source.close()
        for slot in built.values():
            slot.close()
        for slot in sinks:
            close_sink(slot)
        if reconfigured:
            worker.call(lambda: reconfigure_in_place({s.id: s for s in worker.chain.slots}, reconfigured,
                                                     old_stage_configs)).result()
        if sinks_reconfigured:
            old_sink_configs = {c.id: c for c in old.sinks}
            worker.call(lambda: reconfigure_in_place({s.id: s for s in worker.sinks.slots}, sinks_reconfigured,
                                                     old_sink_configs)).result()
        raise

    def swap() -> list[StageSlot]:
        retired = _swap_stages(pipeline, new, built)
        if pipeline.sinks_enabled:
            _swap_sinks(pipeline, new, plan, sinks)
        kept_sources = [s for s in pipeline.config.sources if s.id not in plan.sources.removed]
        pipeline.config = new.model_copy(update={"sources": kept_sources})
        return retired

    for slot in worker.call(swap).result():  # closed here, off the worker (releasing a model takes time)
        slot.close()
    if plan.metrics and pipeline.metrics is not None:
        pipeline.metrics.close()
    if plan.metrics and new.metrics is not None:
        from pipeline.metrics import Metrics

        pipeline.metrics = pipeline.metrics or Metrics(pipeline)
        pipeline.metrics.serve_config(new.metrics)
    if plan.metrics:
        worker.chain.observe = pipeline.metrics.observe if new.metrics and pipeline.metrics else None
    for source_id in [*plan.sources.removed, *plan.sources.changed]:
        pipeline.remove_source(source_id)
    for source in new.sources:
        reader = opened.get(source.id)
        if reader is not None:
            pipeline.emit([Event(EventType.SOURCE_ADDED, source.id, payload={"uri": reader.source_uri()})])
            pipeline.sources.attach(reader)
    pipeline.config = new
    pipeline.version += 1
    changed = plan.report(reconfigured, sinks_reconfigured)
    pipeline.emit([Event(EventType.CONFIG_APPLIED, "*", payload={"version": pipeline.version, "changed": changed})])
    log.info("hot reload: version %d applied: %s", pipeline.version, changed)
    return {"version": pipeline.version, "changed": changed}


WARM_UP_SOURCE = "__warm-up__"


def _warm_up(slot: StageSlot, recent: list[Frame], batch: int) -> None:
    """One batch per frame size the pipeline sees, through a freshly built stage, off the worker
    thread: its first real batch does not pay for lazy allocation (the first OpenVINO inference on
    a new model took 131 ms/frame against 13 ms after). Its state for the warm-up is dropped."""
    sizes = {frame.image.shape: frame for frame in recent}
    for frame in sizes.values():
        for size in sorted({1, batch}):  # a runtime may compile one model per batch size (OpenVINO)
            slot.stage.process([Packet(Frame(WARM_UP_SOURCE, i, i / 25.0, frame.image)) for i in range(size)])
    if sizes:
        slot.stage.end_source(WARM_UP_SOURCE)


def reconfigure_in_place(slots: dict[str, Any], ids: list[str], configs: dict[str, Any]) -> list[str]:
    """Stages or sinks (of `ids`) that took their config in place (their `reconfigure` returned True);
    on the thread that owns them (the worker's)."""
    done = []
    for slot_id in ids:
        slot = slots[slot_id]
        hook = stage_hook(getattr(slot, "stage", None) or slot.sink, "reconfigure")
        if hook is not None and hook(configs[slot_id]):
            done.append(slot_id)
    return done


def _swap_stages(pipeline: Pipeline, new: PipelineConfig, built: dict[str, StageSlot]) -> list[StageSlot]:
    """New stage list in the new order; replaced and removed stages end their streams and are
    returned, to be closed by the caller."""
    worker = pipeline.worker
    old_slots = {slot.id: slot for slot in worker.chain.slots}
    streams = sorted(worker.open_streams)
    slots: list[StageSlot] = []
    retired: list[StageSlot] = []
    for config in new.stages:
        slot = built.get(config.id) or old_slots[config.id]
        slots.append(slot)
    for stage_id, old in old_slots.items():
        replacement = built.get(stage_id)
        if replacement is None and stage_id in {s.id for s in slots}:
            continue  # kept (same object, same state)
        events = [e for source_id in streams for e in _end(old, source_id)]
        worker.emit(events)
        take_over = stage_hook(replacement.stage, "take_over") if replacement is not None else None
        if take_over is not None:
            take_over(old.stage)
        retired.append(old)
    worker.chain.replace(slots)
    return retired


def _end(slot: StageSlot, source_id: str) -> list[Event]:
    try:
        return list(slot.stage.end_source(source_id))
    except Exception as exc:
        log.error("stage '%s': ending source '%s' failed: %s", slot.id, source_id, exc)
        return []


def _swap_sinks(pipeline: Pipeline, new: PipelineConfig, plan: ReloadPlan, opened: list[SinkSlot]) -> None:
    """New sink list in the new order; replaced and removed sinks are closed, new ones see open streams."""
    sink_set = pipeline.worker.sinks
    old_slots = {slot.id: slot for slot in sink_set.slots}
    fresh = {slot.id: slot for slot in opened}
    for start in pipeline.worker.open_streams.values():
        for slot in opened:
            try:
                slot.sink.start_source(start)
            except Exception as exc:
                log.error("sink '%s': start_source failed: %s", slot.id, exc)
    slots = [fresh.get(c.id) or old_slots[c.id] for c in new.sinks if c.id in fresh or c.id in old_slots]
    for sink_id, slot in old_slots.items():
        if sink_id in plan.sinks.removed or sink_id in fresh:
            close_sink(slot)
    sink_set.replace(slots)

