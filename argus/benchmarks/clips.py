"""`run.py bench clips`: the CPU cost of the clips sink's pre-roll ring on K live RTSP cameras.

    python run.py bench clips [--source VIDEO] [--cameras 4] [--seconds 30] [--rounds 3] [--sides off,ring]

K GStreamer RTSP servers (`argus/tools/rtsp_server.py`, Debian's python3 + gi) each serve a looped
copy of the video (H.264, sent as it is, at its frame rate). The default pipeline (its stages and
its default sinks: annotated video, detections, events; RTSP sources are motion-gated by default)
runs on the K cameras in a process of its own, per side:

- `off`: no clips sink;
- `ring`: a clips sink whose trigger never fires (`track_ended` with a `reason` no event carries): every
  frame is drawn, encoded to H.264 and kept in the pre-roll ring, no clip is written. The ring's cost;
- `clips` (optional): a clips sink triggered by `track_started` (the sink's defaults: 5 s pre and post):
  on a busy video a clip is open nearly all the time, so this is the cost of writing clips as well.

After every camera has delivered a frame and `warmup_s` more, the child counts `seconds`: its own CPU
time (user + sys, all threads, `getrusage`), the frames delivered and dropped per camera. Per side:
CPU seconds per delivered frame, CPU cores used, FPS; medians over `rounds` rounds whose side order
alternates (off, ring, then ring, off, ...), fresh servers for every run. The ratio is each side's CPU
per frame over `off`'s. The servers' own CPU is not counted (other processes, the same on every side).
The 1-minute load average is recorded before each run and a busy machine is warned about: run it on
a quiet one.
"""

from __future__ import annotations

import logging
import math
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pipeline.errors import ArgusError

log = logging.getLogger("argus.bench")

SIDES = ("off", "ring", "clips")
NEVER = {"event": "track_ended", "where": {"reason": "argus-bench-never"}}  # no track_ended carries this reason
FIRST_FRAME_TIMEOUT_S = 60.0


def clips_sink(side: str) -> dict[str, Any] | None:
    """The clips sink config of `side` (None for `off`)."""
    if side == "off":
        return None
    if side == "ring":
        return {"type": "clips", "dir": "clips", "trigger": [NEVER]}
    if side == "clips":
        return {"type": "clips", "dir": "clips", "trigger": [{"event": "track_started"}]}
    raise ArgusError(f"bench clips: unknown side {side!r} (sides: {', '.join(SIDES)})")


def parse_sides(text: str) -> list[str]:
    """`off,ring[,clips]` -> the sides, `off` first (the ratios' base); ArgusError on an unknown one."""
    sides = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in sides if s not in SIDES]
    if unknown or not sides:
        raise ArgusError(f"bench clips: --sides {text!r}: expected a comma-separated list of {', '.join(SIDES)}")
    sides = list(dict.fromkeys(sides))
    return ["off", *[s for s in sides if s != "off"]]


def side_order(sides: list[str], round_index: int) -> list[str]:
    """The sides in round `round_index` (0-based): as given in even rounds, reversed in odd ones."""
    return list(sides) if round_index % 2 == 0 else list(reversed(sides))


def loops_needed(video_s: float, warmup_s: float, seconds: float, margin_s: float = 90.0) -> int:
    """Copies of a `video_s`-second video in a stream that outlasts connecting, warm-up and the window."""
    return max(1, math.ceil((warmup_s + seconds + margin_s) / max(video_s, 1e-3)))


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _sample(pipeline: Any) -> dict[str, Any]:
    stats = pipeline.run_stats
    return {"t": time.monotonic(), "cpu_s": _cpu_s(), "frames": dict(stats.frames_per_source),
            "dropped": {sid: reader.queue.dropped for sid, reader in pipeline.readers.items()},
            "reconnects": dict(stats.reconnects)}


def argus_clips(uris: list[str], clips: str, seconds: float, warmup_s: float, overrides: list[str],
                config: str | None = None) -> dict[str, Any]:
    """One side in this process: the config's pipeline on the RTSP `uris`, with the `clips` side's sink;
    CPU, frames and drops per camera over `seconds` after every camera delivered and `warmup_s`."""
    from pipeline import Pipeline
    from pipeline.config import load_config

    sources = [{"id": f"cam{i}", "uri": uri} for i, uri in enumerate(uris)]
    with tempfile.TemporaryDirectory(prefix="argus-bench-clips-") as out:
        replace = {"sources": sources, "output_dir": out, "runner": {"progress": False}}
        base = load_config(Path(config) if config else None, overrides, replace=replace)
        sinks = [s.model_dump(mode="json") for s in base.sinks if s.type != "clips"]
        sink = clips_sink(clips)
        cfg = load_config(Path(config) if config else None, overrides,
                          replace={**replace, "sinks": sinks + ([sink] if sink else [])})
        pipeline = Pipeline(cfg)
        pipeline.start()
        try:
            deadline = time.monotonic() + FIRST_FRAME_TIMEOUT_S
            while not all(pipeline.run_stats.frames_per_source.get(s["id"], 0) for s in sources):
                if time.monotonic() > deadline:
                    raise ArgusError(f"bench clips: no frame from every camera within {FIRST_FRAME_TIMEOUT_S:.0f} s "
                                     f"(frames: {dict(pipeline.run_stats.frames_per_source)})")
                time.sleep(0.2)
            time.sleep(warmup_s)
            before = _sample(pipeline)
            time.sleep(seconds)
            after = _sample(pipeline)
            sink_stats = pipeline.stats().get("sinks", {})
        finally:
            pipeline.stop()
            pipeline.wait(60)
    span = after["t"] - before["t"]
    cams = [s["id"] for s in sources]
    delivered = {c: after["frames"].get(c, 0) - before["frames"].get(c, 0) for c in cams}
    dropped = {c: after["dropped"].get(c, 0) - before["dropped"].get(c, 0) for c in cams}
    reconnects = {c: after["reconnects"].get(c, 0) - before["reconnects"].get(c, 0) for c in cams}
    cpu = after["cpu_s"] - before["cpu_s"]
    frames = sum(delivered.values())
    clips_stats = next((v for v in sink_stats.values() if v.get("type") == "clips"), None)
    return {"side": clips, "cameras": len(cams), "window_s": round(span, 2), "cpu_s": round(cpu, 3),
            "frames": frames, "cpu_s_per_frame": round(cpu / frames, 5) if frames else None,
            "cores_used": round(cpu / span, 3), "fps": round(frames / span, 2),
            "delivered": delivered, "dropped": dropped,
            "fps_per_camera": {c: round(n / span, 2) for c, n in delivered.items()},
            "reconnects": {c: n for c, n in reconnects.items() if n},
            **({"clips_sink": {k: clips_stats.get(k) for k in ("saved", "open", "errors", "last_error",
                                                                "preroll_bytes")}} if clips_stats else {})}


def _median(values: list[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return statistics.median(kept) if kept else None


def summarise(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Medians per side over its runs, and each side's CPU per frame against `off`'s (ratio, extra ms)."""
    per_side: dict[str, dict[str, Any]] = {}
    for side, side_runs in runs.items():
        if not side_runs:
            continue
        cams = list(side_runs[0]["delivered"])
        cpf = _median([r["cpu_s_per_frame"] for r in side_runs])
        delivered = sum(sum(r["delivered"].values()) for r in side_runs)
        dropped = sum(sum(r["dropped"].values()) for r in side_runs)
        per_side[side] = {
            "cpu_s_per_frame": round(cpf, 5) if cpf is not None else None,
            "cpu_ms_per_frame": round(1000 * cpf, 2) if cpf is not None else None,
            "cores_used": round(_median([r["cores_used"] for r in side_runs]) or 0.0, 3),
            "fps": round(_median([r["fps"] for r in side_runs]) or 0.0, 2),
            "delivered_per_camera": {c: _median([r["delivered"].get(c, 0) for r in side_runs]) for c in cams},
            "dropped_per_camera": {c: _median([r["dropped"].get(c, 0) for r in side_runs]) for c in cams},
            "fps_per_camera": {c: _median([r["fps_per_camera"].get(c, 0.0) for r in side_runs]) for c in cams},
            "drop_fraction": round(dropped / max(1, dropped + delivered), 4),
        }
    base = per_side.get("off", {}).get("cpu_s_per_frame")
    ratios = {side: round(v["cpu_s_per_frame"] / base, 3) for side, v in per_side.items()
              if side != "off" and base and v["cpu_s_per_frame"] is not None}
    extra = {side: round(1000 * (v["cpu_s_per_frame"] - base), 2) for side, v in per_side.items()
             if side != "off" and base is not None and v["cpu_s_per_frame"] is not None}
    return {"per_side": per_side, "cpu_per_frame_ratio_to_off": ratios, "extra_cpu_ms_per_frame": extra}


def bench_clips(video: Path, *, cameras: int = 4, seconds: float = 30.0, warmup_s: float = 10.0, rounds: int = 3,
                sides: list[str] | None = None, config_path: Path | None = None,
                overrides: list[str] | None = None) -> dict[str, Any]:
    """The runs of the module docstring; medians per side and ratios to `off`."""
    from argus.benchmarks.child import run_side
    from argus.benchmarks.pipeline import load_check
    from argus.benchmarks.streams import file_fps
    from argus.tools.rtsp_server import RtspServer, looped_video, rtsp_server_missing

    if not video.is_file():
        raise ArgusError(f"bench clips: video not found: {video} (the shared data is absent: set "
                         "$ARGUS_SHARED_DATA or pass --source)")
    missing = rtsp_server_missing()
    if missing:
        raise ArgusError(f"bench clips: {missing}")
    if cameras < 1 or rounds < 1 or seconds <= 0:
        raise ArgusError("bench clips: --cameras and --rounds must be at least 1 and --seconds positive")
    sides = sides or ["off", "ring"]
    overrides = overrides or []
    video_s = _duration_s(video)
    runs: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
    loads: dict[str, list[float]] = {side: [] for side in sides}
    with tempfile.TemporaryDirectory(prefix="argus-bench-clips-") as tmp:
        stream = looped_video(video, Path(tmp) / "looped.mp4", loops_needed(video_s, warmup_s, seconds))
        for r in range(rounds):
            for side in side_order(sides, r):
                loads[side].append(load_check(f"bench clips ({side})"))
                servers = [RtspServer(stream) for _ in range(cameras)]
                try:
                    for server in servers:
                        server.start()
                    result = run_side({"side": "argus-clips", "uris": [s.url for s in servers], "clips": side,
                                       "seconds": seconds, "warmup_s": warmup_s, "overrides": overrides,
                                       "config": str(config_path) if config_path else None},
                                      timeout_s=FIRST_FRAME_TIMEOUT_S + warmup_s + seconds + 300)
                finally:
                    for server in servers:
                        server.kill()
                runs[side].append(result)
                print(f"round {r + 1}: {side}: {result['fps']:.2f} FPS, {result['cpu_s_per_frame'] or 0:.4f} CPU s "
                      f"per frame, {result['cores_used']:.2f} cores, dropped {sum(result['dropped'].values())}",
                      file=sys.stderr, flush=True)
    busy_limit = 0.5 * (_cpus())
    return {"video": str(video), "stream_fps": file_fps(video), "cameras": cameras, "seconds": seconds,
            "warmup_s": warmup_s, "rounds": rounds, "sides": sides, "trigger_never": NEVER,
            "load_avg_1m_before": loads,
            "busy": any(load > busy_limit for values in loads.values() for load in values),
            **summarise(runs), "runs": runs}


def _cpus() -> int:
    import os

    return os.cpu_count() or 1


def _duration_s(video: Path) -> float:
    import cv2

    capture = cv2.VideoCapture(str(video))
    frames, fps = capture.get(cv2.CAP_PROP_FRAME_COUNT), capture.get(cv2.CAP_PROP_FPS)
    capture.release()
    return frames / fps if frames > 0 and fps > 0 else 60.0
