"""Face embedder: aligned BGR crops -> L2-normalised embeddings, batched, through engines/.

Each embedder has a name and a version that galleries record with every embedding: a gallery is
only ever matched by the embedder that built it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from engines.base import Engine
from stages.faces import facenet


@dataclass(frozen=True, slots=True)
class EmbedderInfo:
    name: str
    version: str
    size: int  # aligned crop side, px
    dim: int


FACENET512 = EmbedderInfo(facenet.NAME, facenet.VERSION, facenet.SIZE, 512)
EMBEDDERS = {FACENET512.name: FACENET512}


class FaceEmbedder:
    """FaceNet-512 on an `Engine` with a dynamic batch (one call per batch of crops)."""

    def __init__(self, engine: Engine, info: EmbedderInfo = FACENET512, max_batch: int = 64) -> None:
        self.engine = engine
        self.info = info
        self.max_batch = max_batch
        self._input = next(iter(engine.inputs))
        self._output = facenet.OUTPUT if facenet.OUTPUT in engine.outputs else next(iter(engine.outputs))

    def embed(self, aligned_bgr: list[np.ndarray]) -> np.ndarray:
        """(N, dim) unit vectors for N aligned size x size BGR crops."""
        if not aligned_bgr:
            return np.zeros((0, self.info.dim), np.float32)
        rgb = np.stack([cv2.cvtColor(c, cv2.COLOR_BGR2RGB) for c in aligned_bgr])
        parts = []
        for start in range(0, len(rgb), self.max_batch):
            x = facenet.standardise(rgb[start:start + self.max_batch])
            parts.append(np.asarray(self.engine({self._input: x})[self._output], dtype=np.float32))
        out = np.concatenate(parts)
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)

    def close(self) -> None:
        self.engine.close()
