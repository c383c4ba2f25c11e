"""PyTorch backend: the reference for parity tests and the CUDA path where TensorRT is absent.

Runs an ultralytics `.pt` through its `nn.Module` (fused, eval, float) with the detection head
switched into export mode exactly as ultralytics' exporter does, so it returns the same raw
(B, 4 + nc + K*3, anchors) tensor as the exported ONNX file, plus any intermediate module outputs
the caller names (`taps`: the model adapter's feature maps, which its ONNX export adds as outputs)
through forward hooks. FP16 runs under CUDA autocast.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from engines.base import TensorSpec
from pipeline.errors import ModelError

INPUT_NAME, OUTPUT_NAME = "images", "output0"  # the names ultralytics' ONNX export gives


def ultralytics_env() -> None:
    """Keep ultralytics offline: no DNS look-ups, no pip installs at run time (set before importing it)."""
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_AUTOINSTALL", "0")
    os.environ.setdefault("YOLO_VERBOSE", "False")


def _load_module(path: Path) -> tuple[Any, dict[str, str]]:
    """The fused eval-mode nn.Module of an ultralytics .pt, head in export mode, plus its metadata."""
    ultralytics_env()
    try:
        from ultralytics import YOLO
        from ultralytics.nn.modules.head import Detect
    except ImportError:
        raise ModelError(f"{path}: backend 'torch' needs torch and ultralytics: "
                         f"pip install 'argus-pipeline[export]'") from None
    try:
        model = YOLO(str(path)).model
    except Exception as exc:  # ultralytics raises many types for unreadable weights
        raise ModelError(f"{path}: not an ultralytics model: {exc}") from None
    for p in model.parameters():
        p.requires_grad = False
    model = model.eval().float().fuse()
    for m in model.modules():
        if isinstance(m, Detect):  # includes Pose: same switches as ultralytics' exporter
            m.dynamic, m.export, m.format, m.xyxy, m.shape = True, True, "onnx", False, None
    meta = {"stride": str(int(max(model.stride.tolist()))), "names": str(dict(model.names)),
            "task": str(getattr(model, "task", ""))}
    kpt_shape = getattr(model, "kpt_shape", None) or model.yaml.get("kpt_shape")
    if kpt_shape:
        meta["kpt_shape"] = str(list(kpt_shape))
    return model, meta


class TorchEngine:
    """An ultralytics `.pt` model on PyTorch behind the `Engine` protocol.

    Args:
        path: the .pt file.
        precision: "fp32", or "fp16" (CUDA autocast; CPU runs FP32 only).
        device: "cpu" or "cuda:N".
        threads: CPU threads for torch (0 = leave torch's setting).
        taps: extra outputs: output name -> index (in the model's layer list) of the module whose
            output it returns, or (index, pool) to average-pool it pool x pool first, as the exported
            graph does; an index past the last layer is ignored.
    """

    def __init__(self, path: Path, *, precision: str = "fp32", device: str = "cpu", threads: int = 0,
                 taps: Mapping[str, int | tuple[int, int]] | None = None) -> None:
        import torch

        if path.suffix != ".pt":
            raise ModelError(f"{path}: backend 'torch' runs ultralytics .pt weights, not {path.suffix}")
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ModelError(f"{path}: device {device} requested but torch sees no usable CUDA GPU")
        if precision not in ("fp32", "fp16") or (precision == "fp16" and not device.startswith("cuda")):
            raise ModelError(f"{path}: backend 'torch' supports fp32, and fp16 on CUDA; not {precision} on "
                             f"{device}")
        if threads:
            torch.set_num_threads(threads)
        self.torch = torch
        self.device = torch.device(device)
        self.autocast = precision == "fp16"
        module, self.metadata = _load_module(path)
        self.module = module.to(self.device)
        keypoints = int(np.prod(module.kpt_shape)) if hasattr(module, "kpt_shape") else 0
        channels = 4 + len(module.names) + keypoints
        self.inputs = {INPUT_NAME: TensorSpec(INPUT_NAME, (-1, 3, -1, -1), "float32")}
        self.outputs = {OUTPUT_NAME: TensorSpec(OUTPUT_NAME, (-1, channels, -1), "float32")}
        self._taps: dict[str, Any] = {}  # feature output name -> its module's latest output
        layers = getattr(module, "model", None)
        for name, tap in (taps or {}).items():
            index, pool = (tap, 1) if isinstance(tap, int) else tap
            if layers is not None and index < len(layers):
                layers[index].register_forward_hook(self._tap(name, pool))
                self.outputs[name] = TensorSpec(name, (-1, -1, -1, -1), "float32")

    def _tap(self, name: str, pool: int = 1) -> Any:
        def hook(_module: Any, _inputs: Any, output: Any) -> None:
            self._taps[name] = output if pool == 1 else self.torch.nn.functional.avg_pool2d(output, pool)
        return hook

    def __call__(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        torch = self.torch
        x = torch.from_numpy(np.ascontiguousarray(feeds[INPUT_NAME])).to(self.device, non_blocking=True)
        with torch.inference_mode(), torch.autocast(self.device.type, dtype=torch.float16,
                                                    enabled=self.autocast):
            y = self.module(x)
        y = y[0] if isinstance(y, list | tuple) else y           # (B, C, A)
        out = {OUTPUT_NAME: y.float().cpu().numpy()}
        out.update({name: t.float().cpu().numpy() for name, t in self._taps.items()})
        self._taps.clear()
        return out

    def close(self) -> None:
        self.module = None
