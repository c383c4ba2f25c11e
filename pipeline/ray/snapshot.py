"""`RayPipeline.stats()`: the single-process snapshot's shape, plus actor and node per stream."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from pipeline.snapshot import run_state, sinks_state

if TYPE_CHECKING:
    from pipeline.ray.driver import RayPipeline


def snapshot(pipeline: RayPipeline) -> dict[str, Any]:
    """Per stream state/frames/FPS/actor/node; per actor its streams and node; stage ms; sinks."""
    stats = pipeline.run_stats
    wall = time.perf_counter() - pipeline._start_time if pipeline._started else 0.0
    state = run_state(pipeline._started, pipeline.finished.is_set(), pipeline._stopping.is_set())
    sources: dict[str, dict[str, Any]] = {}
    for source_id, stream in sorted(pipeline.streams.items()):
        group = pipeline.groups[stream.group] if stream.group < len(pipeline.groups) else None
        sources[source_id] = {
            "state": "reconnecting" if stream.state == "lost" else stream.state,
            "frames": stats.frames_per_source.get(source_id, 0),
            "fps": round(stats.current_fps(source_id), 2),
            "last_frame": stream.last_index, "segment": stream.segment,
            "reconnects": stats.reconnects.get(source_id, 0),
            **({"actor_index": group.index, **group.where()} if group is not None else {}),
            **({"error": stats.failed_sources[source_id]} if source_id in stats.failed_sources else {}),
        }
    actors = {str(g.index): {"state": "live" if g.live else "lost", "streams": sorted(g.streams), **g.where(),
                             "typical_poll_s": round(g.typical_round_trip(), 3),
                             "slowest_poll_s": round(max(g.round_trips, default=0.0), 3),
                             "lost_after_s": round(g.lost_limit(pipeline.settings), 2)}
              for g in pipeline.groups}
    stages = {name: {"ms_per_frame": round(t.ms_per_frame, 3), "frames": t.frames, "skipped": t.skipped}
              for name, t in stats.stages.items()}
    sinks = sinks_state(pipeline.sinks.slots, stats)
    return {"state": state, "runner": "ray", "version": pipeline.version, "frames": stats.frames,
            "wall_s": round(wall, 3), "fps": round(stats.frames / wall, 2) if wall else 0.0,
            "sources": sources, "actors": actors, "stages": stages, "sinks": sinks,
            "subscribers": {"packets": [{"delivered": s.delivered, "dropped": s.dropped}
                                        for s in pipeline.packet_subscribers]}}
