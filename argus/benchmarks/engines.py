"""`run.py bench engines`: every backend x precision available here, on real frames, same run.

Times the bare model call (`engine(feeds)`, preprocessing excluded) per batch size on frames of a
video, runs ultralytics' own `predict` on the same frames as the reference, and measures each
reduced-precision model's agreement with FP32 (person recall at IoU 0.5, mean OKS) on the first
100 frames of the video plus ultralytics' bus.jpg and zidane.jpg.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from engines.agreement import agreement
from engines.artefacts import Request, calib_from, model_file
from engines.base import Engine
from engines.loader import load_engine
from engines.select import resolve
from engines.tensorrt import gpu_count
from pipeline.errors import ArgusError
from pipeline.types import Detections
from stages.models.feature_taps import TORCH_TAPS
from stages.models.ultralytics import resolve_weights
from stages.models.yolo import YoloAdapter
from stages.models.yolo_recipe import yolo_recipe

log = logging.getLogger("argus.bench")
# What is worth timing on each kind of device (ONNX Runtime FP16 on a CPU only emulates FP16).
CPU_CANDIDATES = [("onnxruntime", "fp32"), ("onnxruntime", "int8"), ("openvino", "fp32"),
                  ("openvino", "bf16"), ("openvino", "int8"), ("torch", "fp32")]
GPU_CANDIDATES = [("tensorrt", "fp32"), ("tensorrt", "fp16"), ("tensorrt", "int8"), ("torch", "fp32"),
                  ("torch", "fp16")]


def video_frames(video: Path, count: int | None = None) -> list[np.ndarray]:
    """The first `count` frames of `video` (BGR uint8); every frame when `count` is None."""
    import cv2

    capture = cv2.VideoCapture(str(video))
    frames: list[np.ndarray] = []
    while count is None or len(frames) < count:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    if not frames:
        raise ArgusError(f"bench engines: no frames read from {video}")
    return frames


def sample_images() -> list[np.ndarray]:
    """ultralytics' bus.jpg and zidane.jpg (empty when ultralytics is absent)."""
    import importlib.util

    import cv2

    spec = importlib.util.find_spec("ultralytics")
    if spec is None or not spec.submodule_search_locations:
        return []
    assets = Path(next(iter(spec.submodule_search_locations))) / "assets"
    images = (cv2.imread(str(assets / n)) for n in ("bus.jpg", "zidane.jpg"))
    return [img for img in images if img is not None]


def detect(adapter: YoloAdapter, frames: Sequence[np.ndarray], batch: int = 1) -> list[Detections]:
    """Detections for every frame (frames of one shape batched `batch` at a time)."""
    results: list[Detections] = []
    for start in range(0, len(frames), batch):
        chunk = frames[start: start + batch]
        hw = adapter.input_shape(*chunk[0].shape[:2])
        if any(adapter.input_shape(*f.shape[:2]) != hw for f in chunk):
            results += [d for f in chunk for d in detect(adapter, [f], 1)]
            continue
        tensor, boxes = adapter.preprocess(chunk, hw)
        output = adapter.engine({adapter.input.name: tensor})[adapter.output.name]
        results += adapter.postprocess(output, boxes, [f.shape[:2] for f in chunk])
    return results


def time_batches(engine: Engine, adapter: YoloAdapter, frames: Sequence[np.ndarray], batch: int,
                 repeats: int = 2) -> float:
    """Median ms per call of `engine` on batches of `batch` frames (bare inference, inputs prepared)."""
    return statistics.median(_pass_times(engine, adapter, _tensors(adapter, frames, batch), repeats))


def throughput(engine: Engine, adapter: YoloAdapter, frames: Sequence[np.ndarray], batch: int = 1,
               repeats: int = 3) -> float:
    """Images/s of `engine` called back to back on prepared batches: images over the total time (a
    rate like a pipeline's, slow calls included, where `time_batches` gives the median call)."""
    times = _pass_times(engine, adapter, _tensors(adapter, frames, batch), repeats)
    return 1000 * batch * len(times) / sum(times)


def streamed_throughput(engine: Any, adapter: YoloAdapter, frames: Sequence[np.ndarray], depth: int,
                        repeats: int = 3) -> float:
    """Images/s of an engine with `submit`/`result` kept busy: one-frame requests, `depth` in flight at any
    time, each result taken as soon as it is the oldest (no barrier between batches)."""
    from collections import deque

    name = adapter.input.name
    tensors = _tensors(adapter, frames, 1)
    engine.result(engine.submit({name: tensors[0]}))  # first call compiles / allocates
    in_flight: deque[Any] = deque()
    start = time.perf_counter()
    for _ in range(repeats):
        for tensor in tensors:
            in_flight.append(engine.submit({name: tensor}))
            if len(in_flight) >= depth:
                engine.result(in_flight.popleft())
    while in_flight:
        engine.result(in_flight.popleft())
    return len(tensors) * repeats / (time.perf_counter() - start)


def _tensors(adapter: YoloAdapter, frames: Sequence[np.ndarray], batch: int) -> list[np.ndarray]:
    hw = adapter.input_shape(*frames[0].shape[:2])
    return [adapter.preprocess(frames[i: i + batch], hw)[0] for i in range(0, len(frames) - batch + 1, batch)]


def _pass_times(engine: Engine, adapter: YoloAdapter, tensors: list[np.ndarray], repeats: int = 1,
                warm: bool = True) -> list[float]:
    name = adapter.input.name
    if warm:
        engine({name: tensors[0]})  # first call compiles / allocates
    times: list[float] = []
    for _ in range(repeats):
        for tensor in tensors:
            start = time.perf_counter()
            engine({name: tensor})
            times.append((time.perf_counter() - start) * 1000)
    return times


def time_interleaved(adapters: dict[tuple[str, str], YoloAdapter], frames: Sequence[np.ndarray], batch: int,
                     rounds: int = 3) -> dict[tuple[str, str], float]:
    """Median ms per batch of each engine, timed round-robin so a noisy neighbour hits all alike."""
    tensors = {k: _tensors(a, frames, batch) for k, a in adapters.items()}
    times: dict[tuple[str, str], list[float]] = {k: [] for k in adapters}
    for k, a in adapters.items():
        _pass_times(a.engine, a, tensors[k][:1], 1)
    for _ in range(rounds):
        for k, a in adapters.items():
            times[k] += _pass_times(a.engine, a, tensors[k], 1, warm=False)
    return {k: statistics.median(v) for k, v in times.items()}


def reference_predict(weights: Path, frames: Sequence[np.ndarray], imgsz: int) -> float:
    """ultralytics `YOLO.predict` images/s on the same frames (one by one, as its CLI does)."""
    from engines.torch import ultralytics_env

    ultralytics_env()
    from ultralytics import YOLO

    model = YOLO(str(weights), task="pose")
    model.predict(frames[0], imgsz=imgsz, verbose=False)
    start = time.perf_counter()
    for frame in frames:
        model.predict(frame, imgsz=imgsz, verbose=False)
    return len(frames) / (time.perf_counter() - start)


def candidates(device: str) -> list[tuple[str, str]]:
    """(backend, precision) pairs to time on `device`, keeping only installed runtimes."""
    import importlib.util

    pairs = GPU_CANDIDATES if device.startswith("cuda") else CPU_CANDIDATES
    present = {"onnxruntime": "onnxruntime", "openvino": "openvino", "torch": "torch", "tensorrt": "tensorrt"}
    return [(b, p) for b, p in pairs if importlib.util.find_spec(present[b]) is not None]


def bench_engines(video: Path, *, model: str = "yolo11n-pose", batches: Sequence[int] = (1, 4, 8),
                  imgsz: int = 640, threads: int = 0, timing_frames: int = 32, agreement_frames: int = 100,
                  calib: Path | None = None, device: str = "auto",
                  only: tuple[str | None, str | None] = (None, None)) -> dict[str, Any]:
    """Timings, ultralytics reference and INT8/BF16 agreement; JSON-ready (shape from issue 8).

    `only`: (backend, precision) filters (None = all); FP32 of ONNX Runtime is always kept as the
    base of the speed-ups and the agreement reference.
    """
    if not video.is_file():
        raise ArgusError(f"bench engines: video not found: {video}")
    if device == "auto":
        device = "cuda:0" if gpu_count()[0] else "cpu"
    frames = video_frames(video, max(agreement_frames, timing_frames))
    timing = frames[:timing_frames]
    check = frames[:agreement_frames] + sample_images()
    recipe = yolo_recipe(model, imgsz)
    calibrate = calib_from([calib or video], recipe.preprocess)
    results: list[dict[str, Any]] = []
    detections: dict[tuple[str, str], list[Detections]] = {}
    pairs = [(b, p) for b, p in candidates(device) if (b, p) == ("onnxruntime", "fp32") or (
        only[0] in (None, "auto", b) and only[1] in (None, "auto", p))]
    adapters: dict[tuple[str, str], YoloAdapter] = {}
    devices: dict[tuple[str, str], str] = {}
    for backend, precision in pairs:
        choice = resolve(backend, precision, device, what=f"bench {backend}/{precision}")
        try:
            path = model_file(Request(recipe, backend, precision, choice.device), calibrate)
            engine = load_engine(path, backend=backend, device=choice.device, threads=threads,
                                 precision=precision, taps=TORCH_TAPS)
        except ArgusError as exc:
            log.warning("bench engines: skipping %s %s: %s", backend, precision, exc)
            continue
        adapters[(backend, precision)] = YoloAdapter(engine, imgsz=imgsz, name=f"{backend}/{precision}")
        devices[(backend, precision)] = choice.device
    for batch in batches:
        for (backend, precision), ms in time_interleaved(adapters, timing, batch).items():
            results.append({"backend": backend, "precision": precision,
                            "device": devices[(backend, precision)], "batch": batch, "ms_per_batch": round(ms, 2),
                            "images_per_s": round(batch * 1000 / ms, 2)})
            log.info("%-11s %-4s batch %d: %.1f ms/batch, %.1f images/s", backend, precision, batch, ms,
                     batch * 1000 / ms)
    for key, adapter in adapters.items():
        detections[key] = detect(adapter, check)
        adapter.engine.close()
    reference = {"images_per_s": round(reference_predict(resolve_weights(model), timing, imgsz), 2),
                 "command": f"YOLO({model}.pt).predict(frame, imgsz={imgsz}) per frame"}
    return {"model": model, "imgsz": imgsz, "device": device, "video": str(video), "results": results,
            "reference": reference, "agreement": agreement_table(detections), "speedups": speedups(results)}


def agreement_table(detections: dict[tuple[str, str], list[Detections]]) -> dict[str, Any]:
    """Each reduced precision against FP32 of the same backend (ONNX Runtime FP32 where absent)."""
    table: dict[str, Any] = {}
    for (backend, precision), dets in detections.items():
        if precision == "fp32":
            continue
        ref = detections.get((backend, "fp32")) or detections.get(("onnxruntime", "fp32"))
        if ref is None:
            continue
        entry = agreement(ref, dets).to_json() | {"backend": backend}
        key = precision if precision not in table else f"{precision}_{backend}"
        if precision in table and backend == "openvino":  # the CPU default owns the plain key
            table[f"{precision}_{table[precision]['backend']}"] = table[precision]
            key = precision
        table[key] = entry
    return table


def speedups(results: list[dict[str, Any]]) -> dict[str, float]:
    """Fastest INT8 images/s over ONNX Runtime FP32 images/s, per batch size."""
    out: dict[str, float] = {}
    for batch in sorted({r["batch"] for r in results}):
        base = [r["images_per_s"] for r in results if r["batch"] == batch
                and (r["backend"], r["precision"]) == ("onnxruntime", "fp32")]
        int8 = [r["images_per_s"] for r in results if r["batch"] == batch and r["precision"] == "int8"]
        if base and int8:
            out[f"int8_vs_onnxruntime_fp32_batch{batch}"] = round(max(int8) / base[0], 3)
    return out
