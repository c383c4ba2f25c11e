"""`run.py bench streams`: how many camera-rate streams the default pipeline keeps in real time.

Argus: K looping copies of the video, each paced at the file's frame rate like a live camera
(`realtime: true`: the oldest frames are dropped when the pipeline falls behind), through the
config's stages *and sinks* (annotated video, JSONL), in one process. K streams are kept when, over
`seconds` after `warmup_s`, fewer than 1 % of the decoded frames were dropped and every stream
delivered at least 97 % of its frame rate.

Peer: `yolo track` run the way ultralytics documents several streams (one thread per stream, each
with its own model, `model.track(source, stream=True, persist=True)`), on its OpenVINO export. A
file source is not paced, so a stream counts as kept when its thread processes at least the file's
frame rate over the same window (a live camera at that rate would then lose nothing).

K grows from 1 until a side fails; each (side, K) runs in a process of its own, sides alternating.

`stagger`: stream i plays a copy of the video rotated to start i/K of the way in, so the cameras are
not all busy at the same moment (a wall of real cameras is not synchronised); this matters with
motion gating, where a stream costs the models only while something moves in it.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("argus.bench")

DROP_LIMIT = 0.01
RATE_LIMIT = 0.97


def file_fps(video: Path) -> float:
    import cv2

    capture = cv2.VideoCapture(str(video))
    fps = capture.get(cv2.CAP_PROP_FPS) or 0.0
    capture.release()
    return float(fps) or 25.0


def rotated_copies(video: Path, count: int, folder: Path) -> list[Path]:
    """`count` copies of `video` in `folder`, copy i starting i/count of the way in (and wrapping)."""
    import cv2

    from argus.benchmarks.engines import video_frames

    frames = video_frames(video)
    height, width = frames[0].shape[:2]
    copies = []
    for i in range(count):
        path = folder / f"rotated{i}.mp4"
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), file_fps(video), (width, height))
        start = i * len(frames) // count
        for frame in frames[start:] + frames[:start]:
            writer.write(frame)
        writer.release()
        copies.append(path)
    return copies


def argus_streams(video: str, streams: int, seconds: float, warmup_s: float, overrides: list[str],
                  config: str | None = None, motion: bool = False, stagger: bool = False) -> dict[str, Any]:
    """K real-time looping sources through the config's stages and sinks (see the module docstring)."""
    from pipeline import Pipeline
    from pipeline.config import load_config

    rate = file_fps(Path(video))
    with tempfile.TemporaryDirectory(prefix="argus-streams-") as out:
        uris = [str(p) for p in rotated_copies(Path(video), streams, Path(out))] if stagger else [video] * streams
        cfg = load_config(Path(config) if config else None, overrides, replace={
            "sources": [{"id": f"cam{i}", "uri": uri, "loop": True, "realtime": True, "motion": motion}
                        for i, uri in enumerate(uris)],
            "output_dir": out, "runner": {"progress": False}})
        pipeline = Pipeline(cfg)
        pipeline.start()
        try:
            time.sleep(warmup_s)
            before = _sample(pipeline)
            time.sleep(seconds)
            after = _sample(pipeline)
        finally:
            pipeline.stop()
            pipeline.wait(60)
    span = after["t"] - before["t"]
    per = {sid: (after["frames"][sid] - before["frames"][sid]) / span for sid in after["frames"]}
    dropped = sum(after["dropped"].values()) - sum(before["dropped"].values())
    delivered = sum(after["frames"].values()) - sum(before["frames"].values())
    drop_fraction = dropped / max(1, dropped + delivered)
    kept = drop_fraction < DROP_LIMIT and min(per.values()) >= RATE_LIMIT * rate
    return {"streams": streams, "stream_fps": rate, "kept": kept, "drop_fraction": round(drop_fraction, 4),
            "min_stream_fps": round(min(per.values()), 2), "total_fps": round(delivered / span, 2)}


def _sample(pipeline: Any) -> dict[str, Any]:
    stats = pipeline.run_stats
    return {"t": time.monotonic(), "frames": dict(stats.frames_per_source),
            "dropped": {sid: reader.queue.dropped for sid, reader in pipeline.readers.items()}}


def ultralytics_streams(video: str, streams: int, seconds: float, warmup_s: float, weights: str,
                        imgsz: int) -> dict[str, Any]:
    """K threads, one model each, `model.track(..., stream=True, persist=True)` (ultralytics' recipe)."""
    from engines.torch import ultralytics_env

    ultralytics_env()
    from ultralytics import YOLO

    rate = file_fps(Path(video))
    stop = threading.Event()
    stamps: list[list[float]] = [[] for _ in range(streams)]
    errors: list[str] = []

    def worker(i: int) -> None:
        try:
            model = YOLO(weights, task="pose")
            while not stop.is_set():
                for _ in model.track(source=video, stream=True, imgsz=imgsz, verbose=False, persist=True):
                    stamps[i].append(time.monotonic())
                    if stop.is_set():
                        break
        except Exception as exc:  # reported in the result, the other threads go on
            errors.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(streams)]
    for thread in threads:
        thread.start()
    time.sleep(warmup_s)
    t0 = time.monotonic()
    time.sleep(seconds)
    t1 = time.monotonic()
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    per = [sum(t0 <= t < t1 for t in s) / (t1 - t0) for s in stamps]
    kept = not errors and min(per) >= RATE_LIMIT * rate
    return {"streams": streams, "stream_fps": rate, "kept": kept, "min_stream_fps": round(min(per), 2),
            "total_fps": round(sum(per), 2), **({"errors": errors} if errors else {})}


def bench_streams(video: Path, *, max_streams: int = 8, min_streams: int = 1, seconds: float = 20.0,
                  warmup_s: float = 12.0,
                  compare: str = "ultralytics-openvino", config_path: Path | None = None,
                  overrides: list[str] | None = None, motion: bool = False, stagger: bool = False) -> dict[str, Any]:
    """Grow K from `min_streams` for Argus and the peer, alternating; the largest K each keeps in real time
    (0 when even `min_streams` is not kept)."""
    from argus.benchmarks.child import run_side
    from argus.benchmarks.pipeline import load_check, openvino_export, peer_imgsz
    from pipeline.config import load_config
    from pipeline.errors import ArgusError
    from stages.models.ultralytics import resolve_weights

    if not video.is_file():
        raise ArgusError(f"bench streams: video not found: {video}")
    overrides = overrides or []
    pose = next(c for c in load_config(config_path, overrides).stages if c.type in ("pose", "detect"))
    weights = None
    imgsz = peer_imgsz(pose, video)
    if compare != "none":
        weights = resolve_weights(pose.model)
        if compare == "ultralytics-openvino":
            weights = openvino_export(weights, imgsz)
    load = load_check("bench streams")
    runs: dict[str, list[dict[str, Any]]] = {"argus": [], "peer": []}
    going = {"argus": True, "peer": weights is not None}
    for k in range(min_streams, max_streams + 1):
        if going["argus"]:
            log.info("bench streams: Argus with %d stream(s)", k)
            runs["argus"].append(run_side({"side": "argus-streams", "video": str(video), "streams": k,
                                           "seconds": seconds, "warmup_s": warmup_s, "overrides": overrides,
                                           "config": str(config_path) if config_path else None,
                                           "motion": motion, "stagger": stagger}))
            going["argus"] = runs["argus"][-1]["kept"]
        if going["peer"]:
            log.info("bench streams: %s with %d stream(s)", compare, k)
            runs["peer"].append(run_side({"side": "ultralytics-streams", "video": str(video), "streams": k,
                                          "seconds": seconds, "warmup_s": warmup_s, "weights": str(weights),
                                          "imgsz": imgsz}))
            going["peer"] = runs["peer"][-1]["kept"]
        if not any(going.values()):
            break

    def best(side: str) -> int:
        return max((r["streams"] for r in runs[side] if r["kept"]), default=0)

    return {"video": str(video), "load_avg_1m_before": load, "seconds": seconds, "warmup_s": warmup_s,
            "argus_streams_kept": best("argus"), "motion": motion, "stagger": stagger, "peer": compare,
            "peer_streams_kept": best("peer") if weights is not None else None,
            "argus_runs": runs["argus"], "peer_runs": runs["peer"], "stages": [c.type for c in load_config(
                config_path, overrides).stages]}
