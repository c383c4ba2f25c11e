"""Starting one side of a benchmark in a process of its own (the child is `argus/benchmarks/side.py`).

Peers and Argus never share a process (a peer's threads, allocator and imports would slow the other
side): the parent starts the child once per side and round and reads one JSON line from the end of
its stdout.
"""

from __future__ import annotations

import json
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
    root = Path(__file__).resolve().parents[2]
    try:
        done = subprocess.run([sys.executable, "-m", "argus.benchmarks.side", json.dumps(spec)], cwd=root, env=env,
                              capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise ArgusError(f"bench: {spec['side']} did not finish within {timeout_s:.0f} s") from None
    lines = [line for line in done.stdout.splitlines() if line.startswith(MARK)]
    if done.returncode != 0 or not lines:
        tail = " | ".join(done.stderr.strip().splitlines()[-3:])
        raise ArgusError(f"bench: {spec['side']} failed (exit {done.returncode}): {tail}")
    return json.loads(lines[-1][len(MARK):])
