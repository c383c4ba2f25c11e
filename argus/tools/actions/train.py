"""Train the temporal action network on windows and export it as ONNX (dynamic batch).

Two architectures, compared by leave-one-person-out on the shared clips (docs/guides/actions.md):
  - `cnn`: a 1-D temporal CNN over the per-sample features (three 3-tap convolutions with
    dilations 1, 2, 4, then the mean over time and the last sample, a linear layer), ~38 k weights (150 kB as ONNX);
  - `gru`: a one-layer GRU over the samples, its last state into a linear layer, ~25 k weights.
Training: AdamW, class-balanced cross-entropy (square-root weights), dropout 0.3; augmentation by
mirroring, time stretch (0.8x, 1.25x), a more oblique view (x squeezed 0.7x) and camera roll
(+-12 degrees) (`dataset.AUGMENT`), Gaussian jitter of the joints and randomly dropped samples.
torch is needed to train only (the `export` extra); running a model needs onnxruntime alone.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from pipeline.errors import ArgusError
from stages.actions.features import FEATURES, SEEN, VALID, XY, mirror
from stages.actions.model import METADATA_KEY


def input_mask(inputs: str) -> np.ndarray:
    """Which of the FEATURES a network reads: `all`, or `cues` (everything but the raw joint layout: centre
    path, box, torso direction, knees, velocity, aspect, and the wrists' and ankles' positions)."""
    mask = np.ones(FEATURES, np.float32)
    if inputs == "cues":
        mask[XY] = 0.0
        mask[SEEN] = 0.0
        for joint in (9, 10, 15, 16):
            mask[2 * joint:2 * joint + 2] = 1.0
    elif inputs != "all":
        raise ArgusError(f"unknown inputs '{inputs}' (all or cues)")
    return mask


def _net(arch: str, classes: int, inputs: str = "all"):
    import torch
    from torch import nn

    mask = torch.tensor(input_mask(inputs))

    class Cnn(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.convs = nn.Sequential(
                nn.Conv1d(FEATURES, 64, 3, padding=1), nn.ReLU(),
                nn.Conv1d(64, 64, 3, padding=2, dilation=2), nn.ReLU(),
                nn.Conv1d(64, 64, 3, padding=4, dilation=4), nn.ReLU())
            self.drop = nn.Dropout(0.3)
            self.head = nn.Linear(128, classes)

        def forward(self, x):
            h = self.convs((x * mask).transpose(1, 2))
            return torch.softmax(self.head(self.drop(torch.cat([h.mean(2), h[:, :, -1]], 1))), 1)

    class Gru(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gru = nn.GRU(FEATURES, 64, batch_first=True)
            self.drop = nn.Dropout(0.3)
            self.head = nn.Linear(64, classes)

        def forward(self, x):
            out, _ = self.gru(x * mask)
            return torch.softmax(self.head(self.drop(out[:, -1])), 1)

    if arch not in ("cnn", "gru"):
        raise ArgusError(f"unknown architecture '{arch}' (cnn or gru)")
    return Cnn() if arch == "cnn" else Gru()


def train(x: np.ndarray, y: np.ndarray, classes: tuple[str, ...], *, arch: str = "cnn", epochs: int = 25,
          seed: int = 0, inputs: str = "all", progress: Callable[[int, int, float], None] | None = None):
    """A trained torch module (outputs probabilities) on windows x (N, steps, F) with targets y (-1 skipped)."""
    import torch

    torch.manual_seed(seed)
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    rng = np.random.default_rng(seed)
    keep = y >= 0
    x, y = x[keep], y[keep]
    x = np.concatenate([x, mirror(x)])
    y = np.concatenate([y, y])
    counts = np.bincount(y, minlength=len(classes)).astype(np.float64)
    weight = torch.tensor(np.where(counts > 0, counts.sum() / np.maximum(counts, 1) / len(classes), 0.0) ** 0.5,
                          dtype=torch.float32)
    net = _net(arch, len(classes), inputs)
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=1e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    xt, yt = torch.tensor(x), torch.tensor(y)
    for epoch in range(epochs):
        net.train()
        order = rng.permutation(len(x))
        total = 0.0
        for start in range(0, len(order), 128):
            idx = order[start:start + 128]
            xb = xt[idx].clone()
            valid = xb[:, :, VALID:VALID + 1]
            xb[:, :, XY] += 0.03 * torch.randn_like(xb[:, :, XY]) * valid
            drop = torch.rand(xb.shape[0], xb.shape[1], 1) < 0.1
            drop[:, -1] = False
            xb = torch.where(drop, torch.zeros_like(xb), xb)
            probs = net(xb)
            loss = torch.nn.functional.nll_loss(torch.log(probs + 1e-7), yt[idx], weight=weight)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        sched.step()
        if progress:
            progress(epoch + 1, epochs, total / len(x))
    net.eval()
    return net


def predict(net, x: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        return net(torch.tensor(np.asarray(x, np.float32))).numpy()


def export(net, out: Path, classes: tuple[str, ...], window_s: float, steps: int, arch: str) -> None:
    """Write the ONNX file atomically (a temporary file renamed onto `out`: nothing half-written)."""
    import onnx
    import torch

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        with warnings.catch_warnings():  # the TorchScript exporter is deprecated; it needs no onnxscript
            warnings.simplefilter("ignore")
            torch.onnx.export(net, (torch.zeros(1, steps, FEATURES),), str(tmp), input_names=["windows"],
                              output_names=["scores"], dynamic_axes={"windows": {0: "N"}, "scores": {0: "N"}},
                              opset_version=17, dynamo=False)
        proto = onnx.load(str(tmp))
        entry = proto.metadata_props.add()
        entry.key = METADATA_KEY
        entry.value = json.dumps({"classes": list(classes), "window_s": window_s, "steps": steps,
                                  "features": FEATURES, "arch": arch})
        onnx.save(proto, str(tmp))
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
