"""Appearance for tracking: a Siamese comparison of person crops by cosine similarity.

Both crops go through the same encoder (the detector's own early feature map, pooled per box by
`stages/models/appearance.py`, then an optional learned linear projection, `EmbeddingHead`) and are
compared by the cosine of their unit-length embeddings. `Gallery` keeps one smoothed embedding per
confirmed track id, so a track can be compared with the boxes of later frames, including after it
was lost for a while (re-identification).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.errors import ModelError

DEFAULT_HEAD = Path(__file__).parent / "heads" / "yolo11n-pose-s4.onnx"


def normalize(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(norm, 1e-6)).astype(np.float32, copy=False)


class EmbeddingHead:
    """A learned projection of pooled features (ONNX, input `features` (N, D) -> `embedding` (N, E)),
    as written by `run.py track train-embedding`; run with ONNX Runtime on the CPU."""

    def __init__(self, path: Path) -> None:
        import onnxruntime as ort

        if not path.is_file():
            raise ModelError(f"embedding head not found: {path}")
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own types for unreadable files
            raise ModelError(f"embedding head {path}: not a readable ONNX model: {exc}") from None
        (inp,) = self.session.get_inputs()
        self.input_name = inp.name
        self.in_dim = inp.shape[1] if isinstance(inp.shape[1], int) else None
        self.path = path

    def __call__(self, features: np.ndarray) -> np.ndarray:
        """(N, D) pooled features -> (N, E) unit-length embeddings."""
        if self.in_dim is not None and features.shape[1] != self.in_dim:
            raise ModelError(f"embedding head {self.path} expects {self.in_dim}-d features, the model "
                             f"stage gives {features.shape[1]}-d ones (was it trained for another model?)")
        (out,) = self.session.run(None, {self.input_name: np.ascontiguousarray(features, np.float32)})
        return normalize(out)


class Gallery:
    """Smoothed embedding per confirmed track id: e <- normalize(momentum * e + (1 - momentum) * new).

    Stored as parallel arrays sorted by id, so the embeddings of many tracks are gathered at once.
    """

    def __init__(self, momentum: float = 0.9) -> None:
        self.momentum = momentum
        self.ids = np.zeros(0, np.int64)
        self.emb = np.zeros((0, 0), np.float32)

    def __len__(self) -> int:
        return len(self.ids)

    def lookup(self, track_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(known (T,) bool, embeddings (T, E)) for `track_ids`; unknown rows are zero."""
        if not len(self.ids):
            return np.zeros(len(track_ids), bool), np.zeros((len(track_ids), self.emb.shape[1]), np.float32)
        slot = np.minimum(np.searchsorted(self.ids, track_ids), len(self.ids) - 1)
        known = self.ids[slot] == track_ids
        return known, self.emb[slot] * known[:, None]

    def update(self, track_ids: np.ndarray, emb: np.ndarray) -> None:
        """Blend the (N, E) unit embeddings `emb` into the tracks `track_ids` (new ids are added)."""
        if not len(track_ids):
            return
        if not len(self.ids):
            self.emb = np.zeros((0, emb.shape[1]), np.float32)
        known, old = self.lookup(track_ids)
        blended = normalize(self.momentum * old + (1 - self.momentum) * emb)
        blended[~known] = emb[~known]
        slot = np.searchsorted(self.ids, track_ids[known])
        self.emb[slot] = blended[known]
        if np.count_nonzero(~known):
            ids = np.concatenate([self.ids, track_ids[~known]])
            order = np.argsort(ids, kind="stable")
            self.ids, self.emb = ids[order], np.concatenate([self.emb, blended[~known]])[order]

    def forget(self, track_ids: list[int]) -> None:
        """Drop ended tracks."""
        if track_ids and len(self.ids):
            keep = ~np.isin(self.ids, track_ids)
            self.ids, self.emb = self.ids[keep], self.emb[keep]
