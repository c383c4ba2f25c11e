"""`run.py track train-embedding`: learn the appearance projection head from Argus's own tracklets.

1. Harvest: the model (the pose model by default, or a detector's people) and the motion-only tracker
   run over each video; every confidently tracked person gives one sample (pooled features, label = video + track id).
2. Train a linear projection (Siamese: the same weights embed both crops of a pair) with a
   batch-hard triplet loss on cosine distance: a track's samples are pulled together, and pushed
   away from other tracks of the same video (two tracks alive in one video are mostly different
   people; tracks of different videos are never compared, as the same person may appear in both).
3. Export to ONNX (`features` (N, D) -> `embedding` (N, E)), which `EmbeddingHead` loads.

No ground truth is used anywhere: labels are the tracker's own ids.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from argus.tools.tracking.harvest import people_stage, video_packets
from pipeline.errors import ModelError
from stages.tracking.argus import ArgusTracker

log = logging.getLogger(__name__)


@dataclass
class Tracklets:
    """Samples for training: (M, D) features, (M,) int64 label, (M,) int64 video index."""

    features: np.ndarray
    labels: np.ndarray
    videos: np.ndarray


def harvest(videos: list[Path], *, imgsz: int = 960, frames: int | None = None, min_score: float = 0.6,
            min_samples: int = 8, model: str = "yolo11n-pose") -> Tracklets:
    """Tracklets of every video (tracks with fewer than `min_samples` confident boxes are dropped), with
    the pooled features of `model` (a head is specific to the model whose features it was trained on)."""
    pose = people_stage(model, imgsz)
    feats: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    video_ids: list[np.ndarray] = []
    label_base = 0
    try:
        for v, path in enumerate(videos):
            tracker = ArgusTracker(appearance=False, new_track_score=min_score)
            video_feats, video_tracks = [], []
            for packet in tqdm(video_packets(path, pose, frames), desc=f"harvest {Path(path).name}",
                               unit="frame", leave=False):
                det = tracker.update(packet.detections, packet.frame.index)
                if det.embedding is None:
                    raise ModelError("the pose model gives no feature maps: train-embedding needs the "
                                     "built-in model or a .pt exported by Argus")
                keep = (det.track_id >= 0) & (det.score >= min_score)
                video_feats.append(det.embedding[keep])
                video_tracks.append(det.track_id[keep])
            f, t = np.concatenate(video_feats), np.concatenate(video_tracks)
            ids, counts = np.unique(t, return_counts=True)
            good = np.isin(t, ids[counts >= min_samples])
            feats.append(f[good])
            labels.append(label_base + t[good])
            video_ids.append(np.full(np.count_nonzero(good), v))
            label_base += int(t.max(initial=0)) + 1
            log.info("%s: %d tracks, %d samples", path, len(np.unique(t[good])), np.count_nonzero(good))
    finally:
        pose.close()
    return Tracklets(np.concatenate(feats), np.concatenate(labels), np.concatenate(video_ids))


def _import_torch() -> Any:
    try:
        import torch
    except ImportError:
        raise ModelError("train-embedding needs torch: pip install 'argus-pipeline[export]'") from None
    return torch


def triplet_loss(torch: Any, emb: Any, labels: Any, videos: Any, margin: float) -> Any:
    """Batch-hard triplet loss on cosine distance: for every anchor, its farthest positive and its
    nearest negative from the same video."""
    dist = 1.0 - emb @ emb.T
    same = labels[:, None] == labels[None, :]
    comparable = videos[:, None] == videos[None, :]
    hardest_pos = torch.where(same, dist, torch.zeros_like(dist)).max(dim=1).values
    hardest_neg = torch.where(~same & comparable, dist, torch.full_like(dist, 4.0)).min(dim=1).values
    valid = hardest_neg < 4.0
    return torch.relu(hardest_pos - hardest_neg + margin)[valid].mean()


def train(data: Tracklets, *, dim: int = 64, epochs: int = 300, per_track: int = 4, tracks_per_batch: int = 16,
          margin: float = 0.3, lr: float = 1e-2, seed: int = 0) -> Any:
    """A trained `torch.nn.Linear` projection (call `export_head` to write it)."""
    torch = _import_torch()
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    x = torch.from_numpy(data.features.astype(np.float32))
    labels = torch.from_numpy(data.labels)
    videos = torch.from_numpy(data.videos)
    by_track = [np.flatnonzero(data.labels == t) for t in np.unique(data.labels)]
    if len(by_track) < 2:
        raise ModelError(f"train-embedding needs at least 2 tracks, found {len(by_track)}: give longer videos "
                         f"with several people")
    # Standardised inputs: pooled features can be nearly parallel (YOLOv8n's: cosine 0.93-1.0 between any
    # two people), and a head trained on them as they are collapsed to one output for every box. The
    # standardisation is folded into the exported layer, so the head still takes the raw features.
    mean, std = x.mean(dim=0), x.std(dim=0).clamp_min(1e-6)
    head = torch.nn.Linear(x.shape[1], dim)
    optimiser = torch.optim.Adam(head.parameters(), lr=lr, weight_decay=1e-4)
    for _ in tqdm(range(epochs), desc="train embedding head", unit="step"):
        chosen = rng.choice(len(by_track), size=min(tracks_per_batch, len(by_track)), replace=False)
        rows = np.concatenate([rng.choice(by_track[c], per_track) for c in chosen])
        emb = torch.nn.functional.normalize(head((x[rows] - mean) / std), dim=1)
        loss = triplet_loss(torch, emb, labels[rows], videos[rows], margin)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    with torch.no_grad():  # W((x - m) / s) + b = (W / s) x + (b - (W / s) m)
        head.weight.div_(std)
        head.bias.sub_(head.weight @ mean)
    return head.eval()


def export_head(head: Any, out: Path) -> None:
    """Write the projection as ONNX: input `features` (N, D), output `embedding` (N, E)."""
    torch = _import_torch()
    out.parent.mkdir(parents=True, exist_ok=True)
    example = torch.zeros(1, head.in_features)
    torch.onnx.export(head, (example,), str(out), input_names=["features"], output_names=["embedding"],
                      dynamic_axes={"features": {0: "n"}, "embedding": {0: "n"}}, dynamo=False)
