"""`run.py bench ray`: throughput of the Ray runner against the single-process one, same machine, same frames.

    python run.py bench ray [--source VIDEO] [--streams 4] [--imgsz 480] [--cores 2] [--warmup 4] [--window 12]

Steady state: looping sources; after `warmup` seconds, the frames merged during `window` seconds
(model loading and Ray start-up left out); CPU time per frame of this process plus the actors
(robust to other load on a shared machine, unlike FPS), and of the driver alone.
Configurations: single process; Ray with 1 actor of `cores` CPUs;
Ray with `cores` actors of 1 CPU each (equal total cores: the scaling efficiency).
"""

from __future__ import annotations

import time
from typing import Any

from pipeline.config import coerce_config
from pipeline.pipeline import Pipeline


def _config(video: str, streams: int, imgsz: int, threads: int, per_actor: int,
            cpus: float) -> dict[str, Any]:
    return {
        "sources": [{"id": f"s{i}", "uri": video, "loop": True} for i in range(streams)],
        "stages": [{"type": "pose", "model": "yolo11n-pose", "imgsz": imgsz, "threads": threads,
                    "backend": "onnxruntime"}, {"type": "track"}],
        "sinks": [{"type": "detections", "path": "detections.jsonl"}, {"type": "events", "path": "events.jsonl"}],
        "output_dir": "/tmp/argus-ray-bench", "runner": {"progress": False, "ray": {
            "streams_per_actor": per_actor, "num_cpus_per_actor": cpus, "spread": False}},
    }


def _cpu(pipeline: Any) -> float:
    """CPU seconds used so far by this process and, under Ray, by the run's actors."""
    return time.process_time() + sum(g.info.get("cpu_s", 0.0) for g in getattr(pipeline, "groups", []))


def _measure(pipeline: Any, warmup: float, window: float) -> dict[str, float]:
    pipeline.start()
    time.sleep(warmup)
    frames0, cpu0, own0, t0 = pipeline.run_stats.frames, _cpu(pipeline), time.process_time(), time.perf_counter()
    time.sleep(window)
    frames1, cpu1, own1, t1 = pipeline.run_stats.frames, _cpu(pipeline), time.process_time(), time.perf_counter()
    pipeline.stop()
    code = pipeline.wait(60)
    frames = max(1, frames1 - frames0)
    return {"exit_code": code, "frames": frames, "fps": round(frames / (t1 - t0), 2),
            "ms_per_frame": round(1000 * (t1 - t0) / frames, 2),
            "cpu_ms_per_frame": round(1000 * (cpu1 - cpu0) / frames, 2),
            "driver_cpu_ms_per_frame": round(1000 * (own1 - own0) / frames, 3)}


def bench_ray(video: str, *, streams: int = 4, imgsz: int = 480, cores: int = 2, warmup: float = 4.0,
              window: float = 12.0) -> dict[str, Any]:
    """Steady-state FPS and CPU ms per frame: single process, Ray with 1 actor, Ray with `cores` actors."""
    from pipeline.ray.cluster import connect
    from pipeline.ray.driver import RayPipeline

    out: dict[str, Any] = {}
    single = _config(video, streams, imgsz, cores, streams, cores)
    out["single_process"] = _measure(Pipeline(coerce_config(single)), warmup, window)
    connect("local")
    out["ray_1_actor"] = _measure(RayPipeline(coerce_config(single), "local"), warmup, window)
    many = _config(video, streams, imgsz, 1, max(1, streams // cores), 1)
    out[f"ray_{cores}_actors"] = _measure(RayPipeline(coerce_config(many), "local"), warmup, window)
    import ray

    ray.shutdown()
    first, split = out["ray_1_actor"], out[f"ray_{cores}_actors"]
    out["ray_overhead_cpu_ms_per_frame"] = round(first["cpu_ms_per_frame"]
                                                 - out["single_process"]["cpu_ms_per_frame"], 2)
    out["scaling_efficiency"] = round(split["fps"] / first["fps"], 3)
    return out

