"""`RayPipeline.apply`: hot reload over Ray actors, with the single-process runner's plan and report.

1. Validate the new config (ConfigError in `check`'s FILE:LINE format: nothing changes) and plan it
   (`plan_reload`): the same `changed` report as `Pipeline.apply`.
2. The driver's sinks (the merged outputs) that are new or changed are reconfigured in place or
   opened. A sink that cannot open: nothing changes (ReloadError).
3. Every actor applies the new actor config (stages, per-source sinks, runner settings) to its own
   `Pipeline` with `Pipeline.apply`: stages reconfigure in place or are rebuilt while frames flow.
   When one refuses, those that applied go back to the old config (ReloadError).
4. The driver's sink list is swapped (new sinks see the open streams start), replaced ones closed.
   New and restarted actors get the new config with their streams (`assign`).
5. Sources: removed ones end, changed ones restart, added ones go to the least-loaded actor.
   A `config_applied` event ends it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.config import PipelineConfig, coerce_config
from pipeline.errors import ArgusError
from pipeline.hot_reload import ReloadError, reconfigure_in_place
from pipeline.ray.segments import WRAPPER_TYPE
from pipeline.ray.split import actor_config, driver_sinks
from pipeline.reload import ReloadPlan, diff_lists, plan_reload
from pipeline.sink_set import SinkSlot, close_sink
from pipeline.types import Event, EventType

if TYPE_CHECKING:
    from pipeline.ray.driver import RayPipeline


def actor_base(config: PipelineConfig) -> dict[str, Any]:
    """What every actor runs of `config`, without sources (each actor has its own)."""
    base = actor_config(config, [], WRAPPER_TYPE)
    base.pop("sources")
    return base


def apply_config(driver: RayPipeline, value: PipelineConfig | dict[str, Any] | str) -> dict[str, Any]:
    """See the module docstring. Returns `{"version": N, "changed": {...}}`."""
    old = driver.config
    new = coerce_config(value, driver.registry, name="<apply>")
    plan = plan_reload(old, new)
    if plan.empty:
        return {"version": driver.version, "changed": {}}
    _probe_sources(driver, new, plan)
    opened, sinks_reconfigured = _prepare_driver_sinks(driver, old, new)
    try:
        stages_reconfigured, actor_sinks_reconfigured = _apply_on_actors(driver, old, new)
    except BaseException:
        for slot in opened:
            close_sink(slot)
        if sinks_reconfigured:
            _reconfigure_driver_sinks(driver, sinks_reconfigured, old)
        raise
    _swap_driver_sinks(driver, new, opened)
    driver.settings = new.runner.ray
    _apply_sources(driver, new, plan)
    driver.config = new
    driver.version += 1
    changed = plan.report(stages_reconfigured, sorted({*sinks_reconfigured, *actor_sinks_reconfigured}))
    driver.emit([Event(EventType.CONFIG_APPLIED, "*", payload={"version": driver.version, "changed": changed})])
    return {"version": driver.version, "changed": changed}


def _driver_sink_diff(old: PipelineConfig, new: PipelineConfig) -> tuple[list[str], list[str]]:
    """Driver sink ids (added, changed); a new `output_dir` changes them all."""
    diff = diff_lists(driver_sinks(old), driver_sinks(new))
    if old.output_dir != new.output_dir:
        diff.changed.extend(s.id for s in driver_sinks(new) if s.id not in diff.added and s.id not in diff.changed)
    return diff.added, diff.changed


def _reconfigure_driver_sinks(driver: RayPipeline, ids: list[str], config: PipelineConfig) -> list[str]:
    configs = {c.id: c for c in driver_sinks(config)}
    with driver.locked():
        return reconfigure_in_place({s.id: s for s in driver.sinks.slots}, ids, configs)


def _prepare_driver_sinks(driver: RayPipeline, old: PipelineConfig,
                          new: PipelineConfig) -> tuple[list[SinkSlot], list[str]]:
    """Reconfigure the changed driver sinks that can take it in place, open the others and the new
    ones. Returns (opened, reconfigured); a sink that cannot open undoes it all (ReloadError)."""
    added, changed = _driver_sink_diff(old, new)
    same_dir = old.output_dir == new.output_dir
    in_place = _reconfigure_driver_sinks(driver, [i for i in changed if same_dir], new) if changed else []
    wanted = [c for c in driver_sinks(new) if c.id in added or (c.id in changed and c.id not in in_place)]
    output = Path(new.output_dir)
    opened: list[SinkSlot] = []
    try:
        output.mkdir(parents=True, exist_ok=True)
        for config in wanted:
            opened.append(SinkSlot(config.id, driver.registry.build_sink(config, output), config.type))
    except Exception as exc:
        for slot in opened:
            close_sink(slot)
        if in_place:
            _reconfigure_driver_sinks(driver, in_place, old)
        raise ReloadError(f"sinks: cannot open, the old config keeps running: {exc}") from exc
    return opened, in_place


def _apply_on_actors(driver: RayPipeline, old: PipelineConfig, new: PipelineConfig) -> tuple[list[str], list[str]]:
    """Each live actor applies the new actor config; (stages, per-source sinks) reconfigured in place.
    An actor that refuses: those that applied go back to `old`, ReloadError."""
    base, previous = actor_base(new), actor_base(old)
    if base == previous:
        return [], []
    done: list[Any] = []
    stages: set[str] = set()
    sinks: set[str] = set()
    try:
        for group in driver.live_groups():
            report = driver.call(group.handle.apply.remote(base))
            if "error" in report:
                raise ReloadError(f"actor {group.index}: the old config keeps running: {report['error']}")
            done.append(group)
            stages.update(report["changed"].get("stages", {}).get("reconfigured", []))
            sinks.update(report["changed"].get("sinks", {}).get("reconfigured", []))
    except BaseException as exc:
        for group in done:
            driver.call(group.handle.apply.remote(previous))
        if isinstance(exc, ArgusError) and not isinstance(exc, ReloadError):
            raise ReloadError(f"the old config keeps running: {exc}") from exc
        raise
    driver.set_actor_base(base)
    return sorted(stages), sorted(sinks)


def _swap_driver_sinks(driver: RayPipeline, new: PipelineConfig, opened: list[SinkSlot]) -> None:
    """The driver's sinks in the new order; the replaced and removed ones are closed."""
    fresh = {slot.id: slot for slot in opened}
    with driver.locked():
        current = {slot.id: slot for slot in driver.sinks.slots}
        slots = [fresh.get(c.id) or current[c.id] for c in driver_sinks(new) if c.id in fresh or c.id in current]
        kept = {id(slot) for slot in slots}
        driver.merger.replace_sinks(slots, opened, driver.open_stream_starts())
    for slot in current.values():
        if id(slot) not in kept:
            close_sink(slot)


def _probe_sources(driver: RayPipeline, new: PipelineConfig, plan: ReloadPlan) -> None:
    """New and changed sources are opened once on an actor before anything changes: one that
    cannot open raises its one-line error (SourceOpenError, exit code kept) and nothing changes."""
    groups = driver.live_groups()
    if not groups:
        return
    for source in new.sources:
        if source.id in plan.sources.added or source.id in plan.sources.changed:
            answer = driver.call(groups[0].handle.probe.remote(source.model_dump(mode="json")))
            if "error" in answer:
                error = ArgusError(answer["error"])
                error.exit_code = answer.get("exit_code", 1)
                raise error


def _apply_sources(driver: RayPipeline, new: PipelineConfig, plan: ReloadPlan) -> None:
    """Removed and changed sources end; changed and added ones start (on the least-loaded actor)."""
    configs = {s.id: s for s in new.sources}
    for source_id in [*plan.sources.removed, *plan.sources.changed]:
        driver.remove_source(source_id)
    for source_id in [*plan.sources.changed, *plan.sources.added]:
        driver.add_source(configs[source_id])
