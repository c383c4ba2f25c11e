"""Appearance embeddings pooled from a detector's own feature map (no second network).

Each detection's box is mapped into the feature map (the letterbox transform, then the stride) and
split into `STRIPES` horizontal bands (head and shoulders, torso, legs); each band's channels are
averaged and L2-normalised, and the bands are concatenated. Stripes keep "red shirt over blue
jeans" apart from "blue shirt over red skirt", which one average over the whole box would not.
"""

from __future__ import annotations

import numpy as np

from pipeline.types import FeatureMap

STRIPES = 3


def cell_box(cells: np.ndarray, height: int, width: int) -> tuple[int, int, int, int]:
    """Integer (x0, y0, x1, y1) cells covering a float box, clipped, at least one cell each way."""
    x0 = min(max(int(np.floor(cells[0])), 0), width - 1)
    y0 = min(max(int(np.floor(cells[1])), 0), height - 1)
    x1 = min(max(int(np.ceil(cells[2])), x0 + 1), width)
    y1 = min(max(int(np.ceil(cells[3])), y0 + 1), height)
    return x0, y0, x1, y1


def pool_embeddings(fmap: FeatureMap, xyxy: np.ndarray, stripes: int = STRIPES) -> np.ndarray:
    """(N, stripes * C) float32 embeddings of the (N, 4) frame-pixel boxes `xyxy`."""
    data = fmap.data
    channels, height, width = data.shape
    out = np.zeros((len(xyxy), stripes * channels), np.float32)
    for i, cells in enumerate(fmap.to_cells(xyxy)):
        x0, y0, x1, y1 = cell_box(cells, height, width)
        edges = np.linspace(y0, y1, stripes + 1).round().astype(int)
        for s in range(stripes):
            top = min(edges[s], y1 - 1)
            band = data[:, top:max(edges[s + 1], top + 1), x0:x1].mean(axis=(1, 2))
            out[i, s * channels:(s + 1) * channels] = band / max(float(np.linalg.norm(band)), 1e-6)
    return out
