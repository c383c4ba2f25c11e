"""Run inside the loopback cluster's namespace by test_ray_cluster.py: 4 looping sources on 2 actors,
kill one actor's process, then the worker node; print a JSON summary of what the driver saw. Every
wait has a generous timeout (the scenario fails only if a recovery never comes); the times it
reports are for reading, not for asserting.

    python tests/ray_fault_scenario.py CONFIG WORKER_RAYLET_PID
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from pipeline.config import load_config
from pipeline.ray.driver import RayPipeline

FRAMES_BEFORE_FAULT = 60


def frames(p: RayPipeline) -> dict[str, int]:
    return {sid: s["frames"] for sid, s in p.stats()["sources"].items()}


def wait_all_advance(p: RayPipeline, timeout: float, step: int = 5) -> float:
    """Seconds until every source has delivered `step` more frames and runs again (or the timeout)."""
    start, base = time.monotonic(), frames(p)
    while time.monotonic() - start < timeout:
        now, stats = frames(p), p.stats()["sources"]
        if all(now[s] >= base[s] + step and stats[s]["state"] == "running" for s in base):
            return time.monotonic() - start
        time.sleep(0.25)
    raise SystemExit(f"sources did not all advance within {timeout} s: {p.stats()['sources']}")


def wait_lost(p: RayPipeline, streams: list[str], before: dict[str, int], timeout: float) -> None:
    """Until the driver has noticed the loss of each of `streams` (their reconnect count went up)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        stats = p.stats()["sources"]
        if all(stats[s]["reconnects"] > before.get(s, 0) for s in streams):
            return
        time.sleep(0.1)
    raise SystemExit(f"the loss of {streams} went unnoticed for {timeout} s: {p.stats()['sources']}")


def reconnects(p: RayPipeline) -> dict[str, int]:
    return {sid: s["reconnects"] for sid, s in p.stats()["sources"].items()}


def main(config_path: str, worker_raylet: int) -> None:
    p = RayPipeline(load_config(Path(config_path)), "127.0.0.1:6379")
    p.start()
    # every segment gets ~6 s of video before its fault: a fragmented MP4 reaches the disk a fragment
    # (a 2 s GOP) at a time, and a segment killed before its first one is left as a stub
    summary: dict[str, Any] = {"start": wait_all_advance(p, 300, step=FRAMES_BEFORE_FAULT)}
    actors = p.stats()["actors"]
    summary["nodes"] = sorted({a["node"] for a in actors.values()})
    head_node = next(n["NodeID"][:12] for n in p.ray.nodes() if "worker_node" not in n["Resources"])
    on_head = next(a for a in actors.values() if a["node"] == head_node)
    summary["killed_actor"] = on_head["streams"]
    before = reconnects(p)
    os.kill(on_head["pid"], signal.SIGKILL)
    t0 = time.monotonic()
    wait_lost(p, on_head["streams"], before, 120)
    summary["actor_noticed_s"] = time.monotonic() - t0
    summary["actor_recovery_s"] = time.monotonic() - t0 + wait_all_advance(p, 180)
    wait_all_advance(p, 300, step=FRAMES_BEFORE_FAULT)
    summary["after_actor"] = p.stats()["sources"]
    on_worker = [a for a in p.stats()["actors"].values() if a["node"] != head_node]
    summary["killed_node_streams"] = sorted(s for a in on_worker for s in a["streams"])
    before = reconnects(p)
    os.kill(worker_raylet, signal.SIGKILL)
    t1 = time.monotonic()
    wait_lost(p, summary["killed_node_streams"], before, 180)
    summary["node_noticed_s"] = time.monotonic() - t1
    summary["node_recovery_s"] = time.monotonic() - t1 + wait_all_advance(p, 240)
    summary["after_node"] = p.stats()["sources"]
    summary["actors_after"] = p.stats()["actors"]
    summary["fault_times"] = [t0, t1]
    p.stop()
    summary["exit_code"] = p.wait(120)
    print("SUMMARY " + json.dumps(summary))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
