"""Backbone feature maps as extra model outputs, for appearance embeddings without a second network.

An exported ultralytics ONNX file has one output (the predictions). `add_feature_outputs` (run
after the export, stages/models/ultralytics.py) adds intermediate activations as further outputs
named `feat_s{stride}` (the stride in input pixels is part of the name, so consumers need no side
table). Each backend then returns them with the predictions in the same call: ONNX Runtime,
OpenVINO and TensorRT read the extended file, and the PyTorch backend hooks the same modules
(`TORCH_TAPS`, given to `engines.loader.load_engine(taps=...)`).

The tap is the output of ultralytics module 2 (the first C3k2 block, stride 4, 64 channels in the n
models): early features keep clothing colour and texture, which tell people apart. On 500 frames of
vtest.mp4, pooled per tracked person in three horizontal stripes, they separated same-person from
different-person pairs better than any later layer (ROC AUC 0.85 raw / 0.96 with a learned
projection, against 0.72-0.79 / 0.80-0.89 for modules 4, 6, 16, 19 and 22).

The map is average-pooled 2x2 inside the graph (stride 8) before it leaves the model. The full
stride-4 map as an output (64 x 120 x 160 floats at 480x640) cost OpenVINO 2.2-2.4 ms of a
15-28 ms call, BF16 or FP32, and 1.8 of 14 ms in INT8 (ab.py, 60 calls alternated, medians); pooled
it costs nothing measurable (15.4 vs 15.3 ms without any feature output). The embeddings are means
over the stripes of a box, and a mean of 2x2 means is the same mean, so pooling changes only how
finely a box edge falls on the grid; the learned projection (stages/tracking/heads) still applies.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class FeatureTap:
    """One feature output: an ultralytics module's output, average-pooled `pool` x `pool` in the graph."""

    module: int
    pool: int = 1


# output name (its stride in input pixels after pooling) -> the tap
FEATURE_TAPS: dict[str, FeatureTap] = {"feat_s8": FeatureTap(module=2, pool=2)}
FEATURE_PREFIX = "feat_s"
TAPS_VERSION = "s4-avg2-v2"  # part of the export cache key: change it whenever FEATURE_TAPS changes
# output name -> (module index, pool), as the PyTorch backend takes them (it hooks the same modules)
TORCH_TAPS: dict[str, tuple[int, int]] = {name: (tap.module, tap.pool) for name, tap in FEATURE_TAPS.items()}


def feature_stride(name: str) -> int:
    """The stride encoded in a feature output's name (`feat_s4` -> 4)."""
    if not name.startswith(FEATURE_PREFIX) or not name[len(FEATURE_PREFIX):].isdigit():
        raise ValueError(f"not a feature output name: {name!r}")
    return int(name[len(FEATURE_PREFIX):])


def module_output(model: Any, module: int) -> str:
    """Name of the tensor ultralytics module `module` hands to the rest of an exported graph.

    torch.onnx names nodes after their module path (`/model.2/cv2/act/Mul`); the module's output
    is the one tensor made inside `/model.{module}/` and read outside it.
    """
    prefix = f"/model.{module}/"
    readers: dict[str, list[str]] = {}
    for node in model.graph.node:
        for name in node.input:
            readers.setdefault(name, []).append(node.name)
    found = [out for node in model.graph.node if node.name.startswith(prefix) for out in node.output
             if any(not r.startswith(prefix) for r in readers.get(out, []))]
    if len(found) != 1:
        raise ValueError(f"module {module}: expected one output tensor, found {found or 'none'}")
    return found[0]


def add_feature_outputs(path: Path) -> None:
    """Rewrite the ONNX file at `path` with every `FEATURE_TAPS` map as an extra float output
    (average-pooled in the graph where the tap says so)."""
    import onnx
    from onnx import TensorProto, helper

    model = onnx.load(str(path))
    existing = {o.name for o in model.graph.output}
    for name, tap in FEATURE_TAPS.items():
        if name in existing:
            continue
        source = module_output(model, tap.module)
        node = helper.make_node("Identity", [source], [name], name=f"/argus/{name}") if tap.pool == 1 else \
            helper.make_node("AveragePool", [source], [name], name=f"/argus/{name}",
                             kernel_shape=[tap.pool, tap.pool], strides=[tap.pool, tap.pool])
        model.graph.node.append(node)
        model.graph.output.append(helper.make_tensor_value_info(
            name, TensorProto.FLOAT, ["batch", f"channels_{name}", f"height_{name}", f"width_{name}"]))
    onnx.save(model, str(path))
