"""One side of a benchmark in a process of its own: `python -m benchmarks.side '<json spec>'`.

Started by `benchmarks.child.run_side`; prints one JSON line (after `MARK`) at the end of stdout.
The spec's `side` picks the function; the other keys are its arguments.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

from argus.benchmarks.child import MARK
from pipeline.errors import ArgusError


def _dispatch(spec: dict[str, Any]) -> dict[str, Any]:
    side = spec.pop("side")
    if side == "argus":
        from argus.benchmarks.pipeline import run_argus

        return run_argus(Path(spec["video"]), spec["frames"], Path(spec["config"]) if spec.get("config") else None,
                         spec["overrides"], sinks=spec.get("sinks", False))
    if side == "ultralytics":
        from argus.benchmarks.pipeline import run_ultralytics_track

        return run_ultralytics_track(Path(spec["video"]), spec["frames"], Path(spec["weights"]), spec["imgsz"])
    if side == "argus-streams":
        from argus.benchmarks.streams import argus_streams

        return argus_streams(**spec)
    if side == "ultralytics-streams":
        from argus.benchmarks.streams import ultralytics_streams

        return ultralytics_streams(**spec)
    if side == "argus-clips":
        from argus.benchmarks.clips import argus_clips

        return argus_clips(**spec)
    raise ArgusError(f"bench: unknown side {side!r}")


def main() -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    result = _dispatch(json.loads(sys.argv[1]))
    print(MARK + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
