"""Building TensorRT engines from ONNX: strongly typed networks (TensorRT 10 and 11 alike).

The precision comes from the ONNX file (FP32, FP16 weights, or INT8 as symmetric Q/DQ made by
engines.quantize); no builder precision flags. One optimisation profile covers the input shapes
the caller gives (min/opt/max; the model adapter knows them: stages/models/yolo_recipe.py gives a
dynamic batch and any image up to imgsz on each side). Building needs the full `tensorrt` package
(builder, ONNX parser); running needs only tensorrt-lean. Engines are cached under a key that
covers the ONNX hash, the profile, the TensorRT version and the GPU's name and compute capability;
the ONNX metadata is written next to it (.json).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engines.cache import build_cached, cache_dir, cache_key, file_hash
from engines.tensorrt import check, cuda_runtime, require_gpu
from pipeline.errors import ModelError

log = logging.getLogger(__name__)
WORKSPACE_BYTES = 2 << 30
# Every builder-side TensorRT call made here (checked against the installed package by a test).
BUILDER_CALLS: dict[str, tuple[str, ...]] = {
    "Builder": ("create_network", "create_builder_config", "create_optimization_profile",
                "build_serialized_network"),
    "IBuilderConfig": ("set_memory_pool_limit", "add_optimization_profile"),
    "IOptimizationProfile": ("set_shape",),
    "OnnxParser": ("parse_from_file", "num_errors", "get_error"),
}


@dataclass(frozen=True, slots=True)
class ShapeProfile:
    """An engine's optimisation profile: the smallest, typical and largest shape of its input."""

    min: tuple[int, ...]
    opt: tuple[int, ...]
    max: tuple[int, ...]


def import_builder() -> Any:
    """The full `tensorrt` module (builder + ONNX parser); tensorrt-lean cannot build."""
    try:
        import tensorrt as trt
    except ImportError:
        raise ModelError("building a TensorRT engine needs the full 'tensorrt' package (builder and ONNX "
                         "parser; tensorrt-lean only runs engines): pip install tensorrt") from None
    return trt


def strongly_typed_flag(trt: Any) -> int:
    """Network creation flags for a strongly typed network (the enum's value differs in 10 and 11)."""
    return 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)


def gpu_identity(index: int) -> dict[str, str]:
    """Name and compute capability of CUDA device `index` (part of every engine's cache key)."""
    props = check(cuda_runtime().cudaGetDeviceProperties(index), "cudaGetDeviceProperties")
    name = props.name
    name = name.decode(errors="replace").rstrip("\0") if isinstance(name, bytes) else str(name)
    return {"gpu": name, "cc": f"{props.major}.{props.minor}"}


def engine_key(onnx: Path, shapes: ShapeProfile, trt_version: str, gpu: dict[str, str]) -> str:
    """Cache key of an engine: everything that makes a serialized engine differ."""
    return cache_key(onnx=file_hash(onnx), shapes=(shapes.min, shapes.opt, shapes.max), tensorrt=trt_version,
                     **gpu)


def _build(trt: Any, onnx: Path, shapes: ShapeProfile, out: Path) -> None:
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(strongly_typed_flag(trt))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise ModelError(f"{onnx}: TensorRT could not parse the ONNX file: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, WORKSPACE_BYTES)
    if network.num_inputs != 1:
        raise ModelError(f"{onnx}: one input expected for a TensorRT build, found {network.num_inputs}")
    profile = builder.create_optimization_profile()
    profile.set_shape(network.get_input(0).name, shapes.min, shapes.opt, shapes.max)
    config.add_optimization_profile(profile)
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise ModelError(f"{onnx}: TensorRT engine build failed (see the TensorRT log above)")
    out.write_bytes(bytes(plan))
    from engines.onnxruntime import read_metadata

    out.with_name(out.name + ".json").write_text(json.dumps(read_metadata(onnx)))


def build_engine(onnx: Path, *, shapes: ShapeProfile, device: str = "cuda:0") -> Path:
    """A cached `.engine` for `onnx` on `device`, running any input shape within `shapes`."""
    index = require_gpu(device)          # before any TensorRT object exists
    trt = import_builder()
    key = engine_key(onnx, shapes, trt.__version__, gpu_identity(index))
    target = cache_dir() / f"{onnx.stem}-{key}.engine"
    if not target.exists():
        log.info("building TensorRT engine %s (once; input shapes %s to %s)", target.name, shapes.min, shapes.max)
    path = build_cached(target, lambda tmp: _build(trt, onnx, shapes, tmp))
    meta = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}.json")
    if meta.exists():
        meta.replace(metadata_path(path))
    return path


def metadata_path(engine: Path) -> Path:
    """Where the source ONNX's metadata (names, kpt_shape, stride) is kept for an engine."""
    return engine.with_suffix(".json")
