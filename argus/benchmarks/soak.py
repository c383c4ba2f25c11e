"""`run.py bench soak`: K looping camera-like sources through the full default pipeline for N minutes.

Every source replays the video at its own frame rate and behaves like a live camera (the oldest
frames are dropped when the pipeline falls behind), with every default sink writing. Every
`interval_s` the process's resident memory, the FPS over the last interval and the drops are
sampled. Memory growth is measured from the first sample after `warmup_s` (allocators and
caches fill during the first minute) to the last.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from pipeline import Pipeline
from pipeline.config import load_config
from pipeline.errors import ArgusError

log = logging.getLogger("argus.bench")


def rss_mb() -> float:
    """Resident set size of this process in MiB (Linux /proc)."""
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    import os

    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def bench_soak(video: Path, *, minutes: float = 20.0, sources: int = 4, interval_s: float = 30.0,
               warmup_s: float = 60.0, overrides: list[str] | None = None) -> dict[str, Any]:
    """Run the soak; returns samples and a summary (RSS growth %, mean FPS, drops)."""
    if not video.is_file():
        raise ArgusError(f"bench soak: video not found: {video}")
    with tempfile.TemporaryDirectory(prefix="argus-soak-") as out:
        config = load_config(None, overrides or [], replace={
            "sources": [{"id": f"cam{i}", "uri": str(video), "loop": True, "realtime": True}
                        for i in range(sources)],
            "output_dir": out, "runner": {"progress": False}})
        runner = Pipeline(config)
        thread = threading.Thread(target=runner.run, name="soak-runner")
        samples: list[dict[str, Any]] = []
        start = time.monotonic()
        thread.start()
        last_frames, last_t = 0, start
        while thread.is_alive() and time.monotonic() - start < minutes * 60:
            thread.join(timeout=min(interval_s, max(0.1, start + minutes * 60 - time.monotonic())))
            now = time.monotonic()
            frames = runner.run_stats.frames
            samples.append({"t_s": round(now - start, 1), "rss_mb": round(rss_mb(), 1),
                            "fps": round((frames - last_frames) / max(1e-9, now - last_t), 2),
                            "frames": frames, "dropped": sum(r.queue.dropped for r in runner.readers.values()),
                            "output_mb": round(sum(f.stat().st_size for f in Path(out).rglob("*") if f.is_file())
                                               / 2**20, 1)})
            log.info("soak %s", samples[-1])
            last_frames, last_t = frames, now
        runner.stop()
        thread.join(timeout=60)
    steady = [s for s in samples if s["t_s"] >= warmup_s] or samples
    base, end = steady[0]["rss_mb"], steady[-1]["rss_mb"]
    decoded = runner.run_stats.frames + samples[-1]["dropped"] if samples else 0
    return {"video": str(video), "minutes": minutes, "sources": sources, "frames": runner.run_stats.frames,
            "fps_mean": round(sum(s["fps"] for s in steady) / len(steady), 2) if steady else 0.0,
            "dropped": samples[-1]["dropped"] if samples else 0,
            "drop_fraction": round(samples[-1]["dropped"] / decoded, 4) if decoded else 0.0,
            "rss_mb_after_warmup": base, "rss_mb_end": end,
            "rss_growth_pct": round(100.0 * (end - base) / base, 2) if base else None,
            "failed_sources": runner.run_stats.failed_sources, "samples": samples}
