"""TensorRT backend (NVIDIA GPUs): runs a serialized `.engine` with named tensors.

Written against the API that TensorRT 10 and 11 share (strongly typed networks; no implicit
precision flags): `Runtime.deserialize_cuda_engine`, `num_io_tensors` / `get_tensor_*`,
`set_input_shape`, `set_tensor_address`, `execute_async_v3`. Memory goes through
`cuda.bindings.runtime` (cuda-python): pinned host buffers and device buffers sized for the
optimisation profile's largest shapes are allocated once; one CUDA stream per engine.
Imported lazily; `cudaGetDeviceCount()` is checked before any TensorRT object is created
(without a usable GPU TensorRT logs "CUDA initialization failure" and later segfaults).

`cuda_graph=True` replays `execute_async_v3` as a CUDA graph: for each new set of input shapes it
runs once normally (TensorRT updates its internal state on a shape change), captures one
`execute_async_v3` on the engine's own stream (`cudaStreamBeginCapture` / `cudaStreamEndCapture`,
`cudaGraphInstantiate`), and from then on launches the graph (`cudaGraphLaunch`) while the shapes
stay the same; a new shape re-captures. The graph fixes the tensor addresses, which never change
here (buffers are allocated once). An engine that cannot be captured falls back to plain
`execute_async_v3` with a warning. Host<->device copies stay outside the graph.
"""

from __future__ import annotations

import ctypes
import json
import logging
from collections.abc import Callable, Hashable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from engines.base import TensorSpec
from pipeline.errors import ModelError

log = logging.getLogger(__name__)
INSTALL_HINT = "pip install 'argus-pipeline[tensorrt]' (tensorrt-lean and cuda-python)"
# Every TensorRT runtime call this module makes, per class (a test checks them against the installed
# tensorrt / tensorrt-lean, so an API removal shows up without a GPU).
RUNTIME_CALLS: dict[str, tuple[str, ...]] = {
    "Runtime": ("deserialize_cuda_engine",),
    "ICudaEngine": ("num_io_tensors", "get_tensor_name", "get_tensor_mode", "get_tensor_shape",
                    "get_tensor_dtype", "get_tensor_profile_shape", "create_execution_context",
                    "device_memory_size_v2"),
    "IExecutionContext": ("set_input_shape", "get_tensor_shape", "set_tensor_address", "execute_async_v3"),
}
# The cuda-python runtime calls behind `cuda_graph=True` (checked against the installed cuda-python).
GRAPH_CALLS = ("cudaStreamBeginCapture", "cudaStreamEndCapture", "cudaGraphInstantiate", "cudaGraphLaunch",
               "cudaGraphDestroy", "cudaGraphExecDestroy")


def import_tensorrt() -> Any:
    """The full `tensorrt` module if installed, else `tensorrt_lean` (runtime only), else ModelError."""
    try:
        import tensorrt as trt
    except ImportError:
        try:
            import tensorrt_lean as trt
        except ImportError:
            raise ModelError(f"backend 'tensorrt' needs TensorRT: {INSTALL_HINT}") from None
    return trt


def cuda_runtime() -> Any:
    """`cuda.bindings.runtime`, or ModelError saying how to install cuda-python."""
    try:
        from cuda.bindings import runtime
    except ImportError:
        raise ModelError(f"backend 'tensorrt' needs cuda-python for GPU memory: {INSTALL_HINT}") from None
    return runtime


def check(result: Any, what: str) -> Any:
    """Unpack a cuda-python `(err, value...)` tuple; raise ModelError on any error."""
    err, *values = result if isinstance(result, tuple) else (result,)
    if int(err) != 0:
        raise ModelError(f"CUDA call {what} failed: {getattr(err, 'name', err)}")
    return values[0] if len(values) == 1 else tuple(values)


def gpu_count() -> tuple[int, str]:
    """(number of usable CUDA GPUs, reason when 0). Never creates a TensorRT object."""
    try:
        runtime = cuda_runtime()
    except ModelError as exc:
        return 0, str(exc)
    err, count = runtime.cudaGetDeviceCount()
    if int(err) != 0:
        return 0, f"cudaGetDeviceCount() failed: {getattr(err, 'name', err)} (no usable NVIDIA driver/GPU)"
    return int(count), "" if count else "no CUDA GPU found"


def require_gpu(device: str) -> int:
    """Index of the CUDA device named by `device` ("cuda:N"), after checking it is usable."""
    if not device.startswith("cuda"):
        raise ModelError(f"backend 'tensorrt' runs on an NVIDIA GPU: set device to cuda:N, not {device}")
    index = int(device.partition(":")[2] or 0)
    count, reason = gpu_count()
    if index >= count:
        raise ModelError(f"backend 'tensorrt' needs a usable GPU for {device}: {reason or f'{count} GPU(s)'}")
    return index


class _Buffer:
    """One tensor's pinned host array and device allocation, sized for its largest shape."""

    def __init__(self, runtime: Any, nbytes: int, dtype: np.dtype) -> None:
        self.runtime, self.nbytes, self.dtype = runtime, nbytes, dtype
        self.host_ptr = check(runtime.cudaMallocHost(nbytes), "cudaMallocHost")
        self.device_ptr = check(runtime.cudaMalloc(nbytes), "cudaMalloc")
        raw = (ctypes.c_byte * nbytes).from_address(int(self.host_ptr))
        self.host = np.ctypeslib.as_array(raw).view(dtype)

    def free(self) -> None:
        self.runtime.cudaFree(self.device_ptr)
        self.runtime.cudaFreeHost(self.host_ptr)


class GraphCache:
    """The executable CUDA graph for the current input shapes: captured on first use, re-captured (the
    old one destroyed) when the shapes change. `capture` and `destroy` do the CUDA work."""

    def __init__(self, capture: Callable[[], Any], destroy: Callable[[Any], None]) -> None:
        self._capture, self._destroy = capture, destroy
        self.key: Hashable | None = None
        self.graph: Any = None
        self.captures = 0

    def get(self, key: Hashable) -> Any:
        """The graph for `key` (the input shapes), capturing it when `key` differs from the last one."""
        if self.graph is None or key != self.key:
            self.release()
            self.graph = self._capture()
            self.key = key
            self.captures += 1
        return self.graph

    def release(self) -> None:
        """Destroy the current graph, if any."""
        if self.graph is not None:
            graph, self.graph, self.key = self.graph, None, None
            self._destroy(graph)


class TensorRtEngine:
    """A serialized TensorRT engine behind the `Engine` protocol.

    Args:
        path: the .engine file (built by engines.tensorrt_build for this GPU and TensorRT version).
        device: "cuda:N".
        cuda_graph: replay inference as a CUDA graph per input shape (see the module docstring).
    """

    def __init__(self, path: Path, *, device: str = "cuda:0",
                 metadata: Mapping[str, str] | None = None, cuda_graph: bool = False) -> None:
        index = require_gpu(device)          # before any TensorRT object exists
        trt = import_tensorrt()
        self.cuda = cuda_runtime()
        check(self.cuda.cudaSetDevice(index), "cudaSetDevice")
        self.logger = trt.Logger(trt.Logger.WARNING)
        self.runtime = trt.Runtime(self.logger)
        self.engine = self.runtime.deserialize_cuda_engine(Path(path).read_bytes())
        if self.engine is None:
            raise ModelError(f"{path}: TensorRT could not deserialize this engine (built for another GPU or "
                             f"TensorRT version?); delete it and run `python run.py build`")
        self.context = self.engine.create_execution_context()
        self.stream = check(self.cuda.cudaStreamCreate(), "cudaStreamCreate")
        self.inputs: dict[str, TensorSpec] = {}
        self.outputs: dict[str, TensorSpec] = {}
        meta_file = Path(path).with_suffix(".json")  # written by engines.tensorrt_build
        self.metadata: dict[str, str] = dict(metadata or (json.loads(meta_file.read_text())
                                                          if meta_file.exists() else {}))
        self._buffers: dict[str, _Buffer] = {}
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        for name in names:
            dtype = np.dtype(trt.nptype(self.engine.get_tensor_dtype(name)))
            spec = TensorSpec(name, tuple(self.engine.get_tensor_shape(name)), dtype.name)
            if self.engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT:
                self.inputs[name] = spec
                largest = tuple(self.engine.get_tensor_profile_shape(name, 0)[2])
                self.context.set_input_shape(name, largest)
        for name in names:  # with every input at its largest shape, outputs are at theirs too
            shape = tuple(self.context.get_tensor_shape(name))
            if name not in self.inputs:
                self.outputs[name] = TensorSpec(name, tuple(self.engine.get_tensor_shape(name)),
                                                np.dtype(trt.nptype(self.engine.get_tensor_dtype(name))).name)
            dtype = np.dtype(self.inputs.get(name, self.outputs.get(name)).dtype)
            self._buffers[name] = _Buffer(self.cuda, int(np.prod(shape)) * dtype.itemsize, dtype)
            self.context.set_tensor_address(name, int(self._buffers[name].device_ptr))
        self.graphs = GraphCache(self._capture, self._destroy_graph) if cuda_graph else None

    def _execute(self) -> None:
        if not self.context.execute_async_v3(int(self.stream)):  # TensorRT takes the raw cudaStream_t
            raise ModelError("TensorRT execute_async_v3 failed")

    def _capture(self) -> Any:
        """Run once for the new shapes, then capture one execute_async_v3 on the stream into a graph."""
        cuda, stream = self.cuda, self.stream
        self._execute()
        check(cuda.cudaStreamSynchronize(stream), "cudaStreamSynchronize")
        mode = cuda.cudaStreamCaptureMode.cudaStreamCaptureModeThreadLocal
        check(cuda.cudaStreamBeginCapture(stream, mode), "cudaStreamBeginCapture")
        try:
            enqueued = self.context.execute_async_v3(int(stream))
        finally:  # always end the capture, or the stream stays in capture mode
            err, graph = cuda.cudaStreamEndCapture(stream)
        if int(err) != 0 or not enqueued:
            if int(err) == 0:
                cuda.cudaGraphDestroy(graph)
            raise ModelError("execute_async_v3 failed while capturing" if int(err) == 0
                             else f"cudaStreamEndCapture failed: {getattr(err, 'name', err)}")
        try:
            return check(cuda.cudaGraphInstantiate(graph, 0), "cudaGraphInstantiate")
        finally:
            cuda.cudaGraphDestroy(graph)  # the executable graph keeps its own copy

    def _destroy_graph(self, graph_exec: Any) -> None:
        self.cuda.cudaGraphExecDestroy(graph_exec)

    def _run(self, shapes: tuple[tuple[int, ...], ...]) -> None:
        """Inference on the stream: the CUDA graph for `shapes` when enabled, else execute_async_v3."""
        if self.graphs is None:
            self._execute()
            return
        try:
            graph_exec = self.graphs.get(shapes)
        except ModelError as exc:
            log.warning("TensorRT: CUDA graph capture failed (%s); running without CUDA graphs", exc)
            self.graphs = None
            self._execute()
            return
        check(self.cuda.cudaGraphLaunch(graph_exec, self.stream), "cudaGraphLaunch")

    def __call__(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        cuda, stream = self.cuda, self.stream
        h2d, d2h = cuda.cudaMemcpyKind.cudaMemcpyHostToDevice, cuda.cudaMemcpyKind.cudaMemcpyDeviceToHost
        for name in self.inputs:
            array, buffer = feeds[name], self._buffers[name]
            if array.nbytes > buffer.nbytes:
                raise ModelError(f"input {name}{array.shape} exceeds the engine's optimisation profile")
            self.context.set_input_shape(name, array.shape)
            buffer.host[: array.size] = array.astype(buffer.dtype, copy=False).ravel()
            copy = cuda.cudaMemcpyAsync(buffer.device_ptr, buffer.host_ptr, array.nbytes, h2d, stream)
            check(copy, "cudaMemcpyAsync")
        self._run(tuple(tuple(feeds[name].shape) for name in self.inputs))
        shapes = {name: tuple(self.context.get_tensor_shape(name)) for name in self.outputs}
        for name, shape in shapes.items():
            buffer = self._buffers[name]
            nbytes = int(np.prod(shape)) * buffer.dtype.itemsize
            check(cuda.cudaMemcpyAsync(buffer.host_ptr, buffer.device_ptr, nbytes, d2h, stream), "memcpy")
        check(cuda.cudaStreamSynchronize(stream), "cudaStreamSynchronize")
        return {name: self._buffers[name].host[: int(np.prod(shape))].reshape(shape).astype(np.float32)
                for name, shape in shapes.items()}

    def close(self) -> None:
        if getattr(self, "graphs", None) is not None:
            self.graphs.release()
        for buffer in self._buffers.values():
            buffer.free()
        self._buffers.clear()
        if getattr(self, "stream", None) is not None:
            self.cuda.cudaStreamDestroy(self.stream)
            self.stream = None
        self.context = self.engine = self.runtime = None
