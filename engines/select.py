"""Resolving `backend: auto` / `precision: auto` / `device: auto` to one concrete choice, in one place.

Order for `auto`: TensorRT where a usable NVIDIA GPU and TensorRT are present; else PyTorch on
CUDA where torch sees a GPU; else the fastest CPU runtime installed, measured on this machine's
2-core AVX-512 CPU (yolo11n-pose, 640x480, batch 1): OpenVINO (INT8 20 ms, FP32 46-54 ms) ahead of
ONNX Runtime (INT8 U8S8 30-76 ms, FP32 51-128 ms). Explicit choices are checked, never replaced:
`backend: tensorrt` without TensorRT or a GPU is an error, not a silent fallback.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pipeline.errors import ModelError

log = logging.getLogger(__name__)

BACKENDS = ("tensorrt", "openvino", "onnxruntime", "torch")
# Precisions each backend can run (int8/fp16 come from the model file, see engines.artefacts).
SUPPORTED: dict[str, tuple[str, ...]] = {
    "tensorrt": ("fp32", "fp16", "int8"),
    "openvino": ("fp32", "bf16", "int8"),
    "onnxruntime": ("fp32", "fp16", "int8"),
    "torch": ("fp32", "fp16"),
}


@dataclass(frozen=True, slots=True)
class Choice:
    """A concrete backend, device and precision, and why they were chosen."""

    backend: str
    device: str
    precision: str
    reason: str


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _nvidia_driver() -> bool:
    """Whether the NVIDIA driver library loads (no driver: no CUDA for any framework)."""
    import ctypes

    try:
        ctypes.CDLL("libcuda.so.1")
    except OSError:
        return False
    return True


def _torch_cuda() -> bool:
    # Importing torch costs seconds and ~700 MB of memory: only where a driver could serve it.
    if not _installed("torch") or not _nvidia_driver():
        return False
    import torch

    return bool(torch.cuda.is_available())


def _gpu_count() -> tuple[int, str]:
    from engines.tensorrt import gpu_count

    return gpu_count()


def _auto_backend(device: str) -> tuple[str, str, str]:
    """(backend, device, reason) for backend auto."""
    wants_gpu = device == "auto" or device.startswith("cuda")
    if wants_gpu:
        count, why = _gpu_count()
        has_trt = _installed("tensorrt") or _installed("tensorrt_lean")
        if count and has_trt:
            return "tensorrt", "cuda:0" if device == "auto" else device, f"TensorRT and {count} usable GPU(s)"
        trt_why = why if not count else "TensorRT not installed"
        if _torch_cuda():
            why = f"no TensorRT ({trt_why}); torch sees CUDA"
            return "torch", "cuda:0" if device == "auto" else device, why
        if device != "auto":
            raise ModelError(f"device {device}: no usable GPU backend ({trt_why}; torch sees no CUDA)")
        cpu_why = f"no GPU path ({trt_why}; torch sees no CUDA)"
    else:
        cpu_why = "device cpu"
    if _installed("openvino"):
        return "openvino", "cpu", f"{cpu_why}; OpenVINO is the fastest CPU runtime measured here"
    return "onnxruntime", "cpu", f"{cpu_why}; OpenVINO not installed (pip install 'argus-pipeline[openvino]')"


@functools.cache
def cpu_has_amx() -> bool:
    """Whether this CPU has AMX BF16 tiles (Intel Xeon 4th generation and later), from /proc/cpuinfo."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            return any(line.startswith("flags") and " amx_bf16" in line for line in info)
    except OSError:
        return False


# On a 2-core Xeon with AMX (OpenVINO 2025, static shapes, 8 rounds alternated, medians, ms per call):
# YOLOv8n at 480x640, INT8 21.1, BF16 20.0, FP32 40.6; yolo11n-pose on 6 crops of 192x128, INT8 15.6,
# BF16 13.0, FP32 20.6. AMX runs BF16 as fast as the INT8 model, so there INT8 buys nothing but its
# calibration (77 s for YOLOv8n on first use) and its quantisation error.
AMX_BF16_REASON = "this CPU has AMX, where OpenVINO runs BF16 as fast as INT8 (no calibration needed)"


def _auto_precision(backend: str, device: str, int8: bool | str,
                    runs: Sequence[str] | None = None) -> tuple[str, str]:
    """FP16 on a GPU; on a CPU INT8 where it is built or can be built on first use (`int8`: truthy,
    a string being the reason), else FP32; only precisions in `runs` (None: any). Agreement with
    FP32 on 100 frames of vtest.mp4 + bus/zidane: INT8 (Conv-only U8S8 Q/DQ) recall 1.0 / OKS 0.989
    on OpenVINO. On a CPU with AMX, OpenVINO runs BF16 where it would run INT8 (see above), so nothing is
    calibrated there."""
    if backend in ("tensorrt", "torch") and device.startswith("cuda"):
        if runs is None or "fp16" in runs:
            return "fp16", "FP16 on the GPU"
        return "fp32", "the model runs in FP32 only"
    if runs is not None and "int8" not in runs:
        return "fp32", "the model has no INT8 build"
    if backend == "openvino" and int8 and (runs is None or "bf16" in runs) and cpu_has_amx():
        return "bf16", AMX_BF16_REASON
    if int8 and "int8" in SUPPORTED[backend]:
        return "int8", int8 if isinstance(int8, str) else "an INT8 model was calibrated for it (run.py build)"
    return "fp32", "no INT8 model calibrated (`run.py build CONFIG` makes one)"


def resolve(backend: str = "auto", precision: str = "auto", device: str = "auto", *,
            what: str = "model", int8_built: Callable[[str], bool | str | None] = lambda backend: False,
            runs: Sequence[str] | None = None) -> Choice:
    """The concrete choice for a stage's settings, logged once per distinct choice.

    `int8_built(backend)`: whether an INT8 model exists or will be built for that backend (a string:
    the reason, for the log). `runs`: the precisions the model has builds for (None: every one);
    `auto` picks among them.
    """
    if backend == "auto":
        backend, device, why = _auto_backend(device)
    else:
        if backend not in SUPPORTED:
            raise ModelError(f"{what}: unknown backend '{backend}' (one of auto, {', '.join(BACKENDS)})")
        if device == "auto":
            device = "cuda:0" if backend == "tensorrt" else "cpu"
        why = "set in the config"
    if precision == "auto":
        precision, pwhy = _auto_precision(backend, device, int8_built(backend) or False, runs)
        why = f"{why}; precision {precision}: {pwhy}"
    if precision not in SUPPORTED[backend]:
        raise ModelError(f"{what}: backend {backend} runs precision {', '.join(SUPPORTED[backend])}, "
                         f"not {precision}")
    choice = Choice(backend, device, precision, why)
    _log_once(choice, what)
    return choice


@functools.cache
def _log_once(choice: Choice, what: str) -> None:
    log.info("%s: backend %s on %s, %s (%s)", what, choice.backend, choice.device, choice.precision,
             choice.reason)
