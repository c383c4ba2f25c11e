"""One side of a benchmark in a process of its own: `python -m benchmarks.side '<json spec>'`.

Peers and Argus never share a process (a peer's threads, allocator and imports would slow the other
side): the parent starts this module once per side and round, and reads one JSON line from the end
of stdout. The spec's `side` picks the function; the other keys are its arguments.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from pipeline.errors import ArgusError

MARK = "ARGUS-BENCH-RESULT "


def run_side(spec: dict[str, Any], timeout_s: float = 900.0) -> dict[str, Any]:
    """Run `spec` in a child process; its result dict (raises ArgusError with its stderr tail on failure)."""
    env = {**os.environ, "YOLO_OFFLINE": "1", "YOLO_AUTOINSTALL": "0"}
    root = Path(__file__).resolve().parent.parent
    try:
        done = subprocess.run([sys.executable, "-m", "benchmarks.side", json.dumps(spec)], cwd=root, env=env,
                              capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise ArgusError(f"bench: {spec['side']} did not finish within {timeout_s:.0f} s") from None
    lines = [line for line in done.stdout.splitlines() if line.startswith(MARK)]
    if done.returncode != 0 or not lines:
        tail = " | ".join(done.stderr.strip().splitlines()[-3:])
        raise ArgusError(f"bench: {spec['side']} failed (exit {done.returncode}): {tail}")
    return json.loads(lines[-1][len(MARK):])


def _dispatch(spec: dict[str, Any]) -> dict[str, Any]:
    side = spec.pop("side")
    if side == "argus":
        from benchmarks.pipeline import run_argus

        return run_argus(Path(spec["video"]), spec["frames"], Path(spec["config"]) if spec.get("config") else None,
                         spec["overrides"], sinks=spec.get("sinks", False))
    if side == "ultralytics":
        from benchmarks.pipeline import run_ultralytics_track

        return run_ultralytics_track(Path(spec["video"]), spec["frames"], Path(spec["weights"]), spec["imgsz"])
    if side == "argus-streams":
        from benchmarks.streams import argus_streams

        return argus_streams(**spec)
    if side == "ultralytics-streams":
        from benchmarks.streams import ultralytics_streams

        return ultralytics_streams(**spec)
    raise ArgusError(f"bench: unknown side {side!r}")


def main() -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    result = _dispatch(json.loads(sys.argv[1]))
    print(MARK + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
