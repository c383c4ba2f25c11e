"""`Pipeline.stats()`: a JSON-ready snapshot of a running (or finished) pipeline."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from pipeline.sink_set import sink_stats
from pipeline.stage import stage_hook

if TYPE_CHECKING:
    from pipeline.pipeline import Pipeline


def run_state(started: bool, finished: bool, stopping: bool) -> str:
    """created | running | stopping | ended (the `state` of every runner's snapshot)."""
    if finished:
        return "ended"
    if not started:
        return "created"
    return "stopping" if stopping else "running"


def sinks_state(slots: Any, stats: Any) -> dict[str, dict[str, Any]]:
    """Each live sink "ok" (with the events waiting in its outbox, for sinks that have one, and the
    counts of sinks with a `stats()` hook, e.g. clips), each failed one with its error."""
    sinks = {slot.id: {"type": slot.type, "state": "ok", **_outbox(slot.sink), **sink_stats(slot.sink)}
             for slot in slots}
    for sink_id, error in stats.failed_sinks.items():
        sinks[sink_id] = {"state": "failed", "error": error}
    return sinks


def _outbox(sink: Any) -> dict[str, int]:
    size = getattr(sink, "outbox_size", None)
    return {"outbox": int(size)} if size is not None else {}


def snapshot(pipeline: Pipeline) -> dict[str, Any]:
    """Per source (stream) frames/FPS/drops/state, per stage ms and errors, sinks, subscribers, and the
    counts of stages that keep some (`counts`, e.g. zones)."""
    stats, worker = pipeline.run_stats, pipeline.worker
    wall = time.perf_counter() - pipeline._start_time if pipeline._started else 0.0
    state = run_state(pipeline._started, worker.finished.is_set(), worker.stopping.is_set())
    sources: dict[str, dict[str, Any]] = {}
    stream_ids = sorted({*stats.stream_state, *stats.frames_per_source})
    for stream_id in stream_ids:
        owner = pipeline.readers.get(stream_id.split("/")[0])
        dropped = owner.queue.dropped if owner is not None else stats.dropped_per_source.get(stream_id, 0)
        sources[stream_id] = {
            "state": stats.stream_state.get(stream_id, "starting"),
            "frames": stats.frames_per_source.get(stream_id, 0),
            "fps": round(stats.current_fps(stream_id), 2),
            "dropped": dropped,
            "queued": owner.queue.frames if owner is not None else 0,
            "reconnects": stats.reconnects.get(stream_id, 0),
            **({"error": stats.failed_sources[stream_id]} if stream_id in stats.failed_sources else {}),
        }
    stages = {}
    for slot in worker.chain.slots:
        timing = stats.stages.get(slot.id)
        stages[slot.id] = {"ms_per_frame": round(timing.ms_per_frame, 3) if timing else 0.0,
                           "frames": timing.frames if timing else 0, "skipped": timing.skipped if timing else 0,
                           "errors": slot.errors}
    sinks = sinks_state(worker.sinks.slots, stats)
    timing = stats.stages.get("sinks")
    counts = stage_counts(worker.chain.slots)
    return {
        "state": state,
        "version": pipeline.version,
        "frames": stats.frames,
        "wall_s": round(wall, 3),
        "fps": round(stats.frames / wall, 2) if wall else 0.0,
        "sources": sources,
        "stages": stages,
        "sinks": sinks,
        "sinks_ms_per_frame": round(timing.ms_per_frame, 3) if timing else 0.0,
        "subscribers": {"packets": [{"delivered": s.delivered, "dropped": s.dropped}
                                    for s in worker.packet_subscribers]},
        **({"counts": counts} if counts else {}),
    }


def stage_counts(slots: Any) -> dict[str, Any]:
    """Stage id -> its `counts()` (stages with that hook, e.g. zones' line crossings)."""
    out = {}
    for slot in list(slots):
        hook = stage_hook(slot.stage, "counts")
        if hook is not None:
            out[slot.id] = hook()
    return out
