"""`run.py bench pipeline`: an Argus config against `yolo track` on the same frames, same run.

Both sides decode the same video file and process its first N frames; the peer runs the config's
first model (its person finder: YOLOv8n for the default detect + track + pose) at the image size
that stage uses on this video. Model loading and warm-up are excluded on both
sides: throughput is measured from the first finished frame to the last, so the figure is
the steady-state rate a long-running camera would see.

Every side runs in a process of its own (argus/benchmarks/side.py), alternating Argus and the peers for
`rounds` rounds; the figures are medians and the ratio is of the medians (`ratio_*_paired_median`:
the median of each round's own ratio, steadier when the machine's speed drifts). The 1-minute load
average is recorded before the first round, with a warning when the machine is busy: figures
measured next to other jobs are not comparable (a busy CPU slows the peers more than Argus).
"""

from __future__ import annotations

import logging
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from argus.benchmarks.engines import video_frames
from pipeline import Pipeline
from pipeline.config import PipelineConfig, load_config
from pipeline.errors import ArgusError
from pipeline.registry import default_registry
from pipeline.stage import Stage

log = logging.getLogger("argus.bench")


class _Clock:
    """Timestamps of finished frames: steady-state FPS from the first to the last."""

    def __init__(self) -> None:
        self.first: tuple[float, int] | None = None
        self.last: tuple[float, int] = (0.0, 0)
        self.count = 0

    def tick(self, frames: int = 1) -> None:
        self.count += frames
        now = time.perf_counter()
        if self.first is None:
            self.first = (now, self.count)
        self.last = (now, self.count)

    def fps(self) -> float:
        if self.first is None or self.last[1] <= self.first[1]:
            return 0.0
        return (self.last[1] - self.first[1]) / (self.last[0] - self.first[0])


def _warm_up(stages: list[Stage], config: PipelineConfig) -> None:
    """Run the stages on the video's first frames once (ONNX Runtime allocates on first use)."""
    warm = config.model_copy(update={"sources": [config.sources[0].model_copy(update={"max_frames": 4})]})
    Pipeline(warm, stages=stages, sinks_enabled=False).run()
    for stage in stages:
        stage.end_source(config.sources[0].id)


def run_argus(video: Path, frames: int, config_path: Path | None, overrides: list[str],
              sinks: bool = False) -> dict[str, Any]:
    """Argus on the first `frames` frames of `video`; steady-state FPS and per-stage ms. `sinks`: the
    config's sinks write (into a temporary folder), as `run.py run` does; else outputs are off."""
    config = load_config(config_path, overrides, replace={
        "sources": [{"id": "bench", "uri": str(video), "max_frames": frames}]})
    stages = [default_registry().build_stage(c) for c in config.stages]  # lent to two runs, closed below
    _warm_up(stages, config)
    pose = next((s for s in stages if hasattr(s, "adapter")), None)
    bare = bare_fps(video, pose, batches=(1, config.runner.max_batch)) if pose is not None else None
    clock = _Clock()
    with tempfile.TemporaryDirectory(prefix="argus-bench-") as out:
        config = config.model_copy(update={"output_dir": out})
        runner = Pipeline(config, stages=stages, sinks_enabled=sinks)
        runner.on_frames = clock.tick
        try:
            code = runner.run()
        finally:
            for stage in stages:
                stage.close()
    if code != 0:
        raise ArgusError(f"bench: the Argus run failed (exit {code}): {runner.run_stats.failed_sources}")
    stats = runner.run_stats.to_json()
    choice = getattr(pose, "choice", None)
    return {"fps": round(clock.fps(), 2), "frames": runner.run_stats.frames, "sinks": sinks,
            "bare_fps": max(bare.values()) if bare else None, "bare_fps_by_call": bare,
            "engine": {"backend": choice.backend, "precision": choice.precision, "device": choice.device}
            if choice else None,
            "stages_ms_per_frame": {k: v["ms_per_frame"] for k, v in stats["stages"].items()},
            "stages": [c.model_dump(exclude_defaults=True) | {"type": c.type} for c in config.stages]}


def run_ultralytics_track(video: Path, frames: int, weights: Path, imgsz: int) -> dict[str, Any]:
    """`yolo track` (ultralytics' default BoT-SORT tracker) on the same frames."""
    from engines.torch import ultralytics_env

    ultralytics_env()
    from ultralytics import YOLO

    model = YOLO(str(weights))  # the task (detect, pose) is read from the weights or the export's metadata
    import cv2

    capture = cv2.VideoCapture(str(video))
    ok, first = capture.read()
    capture.release()
    if ok:
        model.predict(first, imgsz=imgsz, verbose=False)  # load + warm up outside the timing
    clock = _Clock()
    for _ in model.track(source=str(video), stream=True, imgsz=imgsz, verbose=False, persist=True):
        clock.tick()
        if clock.count >= frames:
            break
    return {"fps": round(clock.fps(), 2), "frames": clock.count, "weights": weights.name,
            "command": f"yolo track model={weights.name} source={video.name} imgsz={imgsz}"}


def openvino_export(weights: Path, imgsz: int) -> Path:
    """ultralytics' own OpenVINO export of `weights` (its defaults: static 1x3ximgszximgsz), cached."""
    import shutil
    import tempfile

    from engines.cache import build_cached, cache_dir, cache_key, file_hash
    from engines.torch import ultralytics_env

    ultralytics_env()
    key = cache_key(weights=file_hash(weights), imgsz=imgsz, format="ultralytics-openvino")
    target = cache_dir() / f"{weights.stem}-{key}_openvino_model"

    def build(_tmp: Path) -> None:
        from ultralytics import YOLO

        with tempfile.TemporaryDirectory(prefix="argus-ovexport-") as tmp:
            local = Path(tmp) / weights.name
            shutil.copy2(weights, local)
            exported = YOLO(str(local)).export(format="openvino", imgsz=imgsz, verbose=False)
            shutil.copytree(exported, target, dirs_exist_ok=True)
        _tmp.write_text(str(target))

    build_cached(target.with_suffix(".done"), build)
    return target


def peer_imgsz(stage: Any, video: Path) -> int:
    """The peer's image size: the model stage's own, or for `imgsz: auto` the size it picks for this video."""
    if stage.imgsz != "auto":
        return int(stage.imgsz)
    import cv2

    from stages.models.yolo import auto_imgsz

    capture = cv2.VideoCapture(str(video))
    height, width = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)), int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
    capture.release()
    if not height or not width:
        raise ArgusError(f"bench: cannot read the frame size of {video}")
    return auto_imgsz(height, width)


def bare_fps(video: Path, stage: Any, batches: tuple[int, ...] = (1,), frames: int = 64,
             repeats: int = 2) -> dict[str, float]:
    """Images/s of the pose stage's engine alone (inputs prepared, same model and precision) per way of
    calling it, a throughput like the pipeline's own figure (see `benchmarks.engines.throughput`). The
    bare figure to compare with is the best of them: "batch 1" runs OpenVINO's all-cores LATENCY model,
    "batch B" one-frame requests in flight together on the THROUGHPUT model, waited for as a batch, and
    "streamed B" (engines with `submit`) keeps B one-frame requests in flight with no barrier at all."""
    from argus.benchmarks.engines import streamed_throughput, throughput

    images = video_frames(video, frames)
    engine = stage.adapter.engine
    found = {f"batch {b}": round(throughput(engine, stage.adapter, images, b, repeats), 2)
             for b in sorted(set(batches))}
    if hasattr(engine, "submit"):
        depth = max(batches)
        found[f"streamed {depth}"] = round(streamed_throughput(engine, stage.adapter, images, depth, repeats), 2)
    return found


def _pose_overrides(config_path: Path | None, overrides: list[str], backend: str | None,
                    precision: str | None) -> list[str]:
    """Config overrides setting backend/precision on every pose/detect stage."""
    config = load_config(config_path, overrides)
    extra = []
    for i, stage in enumerate(config.stages):
        if stage.type in ("pose", "detect"):
            extra += [f"stages.{i}.backend={backend}"] if backend else []
            extra += [f"stages.{i}.precision={precision}"] if precision else []
    return overrides + extra


def load_check(what: str) -> float:
    """The 1-minute load average now, with a warning when something else is running."""
    load = os.getloadavg()[0]
    if load > 0.5 * (os.cpu_count() or 1):
        log.warning("%s: load average %.2f on %d cores before starting: other jobs are running, figures "
                    "will not be comparable (see `uptime`)", what, load, os.cpu_count() or 1)
    return round(load, 2)


def bench_pipeline(video: Path, *, frames: int = 200, compare: str = "ultralytics",
                   config_path: Path | None = None, overrides: list[str] | None = None,
                   backend: str | None = None, precision: str | None = None, rounds: int = 3,
                   sinks: bool = False) -> dict[str, Any]:
    """Argus vs the peer on `video`; JSON-ready dict with medians of argus_fps, the peers' fps, ratios.

    compare: "ultralytics" (`yolo track` on the .pt), "ultralytics-openvino" (on ultralytics' own
    OpenVINO export of the same weights), "all" (both) or "none". Each side runs in its own process,
    alternating, `rounds` times.
    """
    from argus.benchmarks.child import run_side
    from stages.models.ultralytics import resolve_weights

    if not video.is_file():
        raise ArgusError(f"bench pipeline: video not found: {video}")
    overrides = _pose_overrides(config_path, overrides or [], backend, precision)
    pose = next(c for c in load_config(config_path, overrides).stages if c.type in ("pose", "detect"))
    imgsz = peer_imgsz(pose, video)
    peers: dict[str, Path] = {}
    if compare in ("ultralytics", "all"):
        peers["ultralytics"] = resolve_weights(pose.model)
    if compare in ("ultralytics-openvino", "all"):
        peers["ultralytics-openvino"] = openvino_export(resolve_weights(pose.model), imgsz)  # before timing
    load = load_check("bench pipeline")
    argus_spec = {"side": "argus", "video": str(video), "frames": frames, "overrides": overrides,
                  "config": str(config_path) if config_path else None, "sinks": sinks}
    argus_runs: list[dict[str, Any]] = []
    peer_runs: dict[str, list[dict[str, Any]]] = {name: [] for name in peers}
    for i in range(rounds):
        log.info("bench pipeline: round %d/%d", i + 1, rounds)
        argus_runs.append(run_side(dict(argus_spec)))
        for name, weights in peers.items():
            peer_runs[name].append(run_side({"side": "ultralytics", "video": str(video), "frames": frames,
                                             "weights": str(weights), "imgsz": imgsz}))
    argus = argus_runs[len(argus_runs) // 2]
    argus_fps = statistics.median(r["fps"] for r in argus_runs)
    result: dict[str, Any] = {
        "video": str(video), "frames": argus["frames"], "rounds": rounds, "load_avg_1m_before": load,
        "sinks": sinks, "argus_fps": round(argus_fps, 2), "argus_fps_runs": [r["fps"] for r in argus_runs],
        "bare_fps": round(statistics.median(r["bare_fps"] for r in argus_runs), 2) if argus["bare_fps"] else None,
        "bare_fps_by_call": {k: round(statistics.median(r["bare_fps_by_call"][k] for r in argus_runs), 2)
                             for k in argus["bare_fps_by_call"]} if argus["bare_fps"] else None,
        "engine": argus["engine"], "stages_ms_per_frame": argus["stages_ms_per_frame"],
        "argus": {"stages": argus["stages"]}}
    if result["bare_fps"]:
        result["argus_vs_bare"] = round(argus_fps / result["bare_fps"], 3)
    for name, runs in peer_runs.items():
        suffix = "" if name == "ultralytics" else "_" + name.split("-", 1)[1]
        fps = statistics.median(r["fps"] for r in runs)
        result[f"ultralytics{suffix}_fps"] = round(fps, 2)
        result[f"ultralytics{suffix}_fps_runs"] = [r["fps"] for r in runs]
        result[f"ratio{suffix}"] = round(argus_fps / fps, 3) if fps else None
        # each round's Argus run against the peer run right after it: steadier than the ratio of medians
        # when the machine's speed drifts between rounds (a busy neighbour on a VM)
        paired = [a["fps"] / r["fps"] for a, r in zip(argus_runs, runs, strict=True) if r["fps"]]
        result[f"ratio{suffix}_paired_median"] = round(statistics.median(paired), 3) if paired else None
        result[f"peer{suffix}"] = {k: v for k, v in runs[0].items() if k != "fps"}
    result["load_avg_1m_after"] = round(os.getloadavg()[0], 2)
    return result
