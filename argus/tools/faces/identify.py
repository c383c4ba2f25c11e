"""Naming every face of still images against a gallery (`run.py faces identify`, the evaluation):
a face is named when it is within the threshold of a person and the runner-up person is at least
`face_margin` farther, else `unknown` (the same per-face rule as a vote in the face stage)."""

from __future__ import annotations

from typing import Any

import numpy as np

from stages.faces.gallery import Gallery
from stages.faces.recognizer import Recognizer
from stages.faces.voting import UNKNOWN


def identify(recognizer: Recognizer, gallery: Gallery, images: list[np.ndarray], *, threshold: float = 0.95,
             face_margin: float = 0.1) -> list[list[dict[str, Any]]]:
    """Per image, per face: box, score, landmarks, name (or unknown), distance, runner-up, quality."""
    found = recognizer.faces_in_images(images, embed_all=True)
    flat = [f for fs in found for f in fs]
    matches = gallery.match(np.stack([f.embedding for f in flat])) if flat else []  # type: ignore[misc]
    it = iter(matches)
    out = []
    for faces in found:
        rows = []
        for face in faces:
            m = next(it)
            named = (m.name is not None and m.distance <= threshold
                     and m.runner_up_distance - m.distance >= face_margin)
            rows.append({
                "box": [round(float(v), 1) for v in face.box], "score": round(face.score, 3),
                "landmarks": [[round(float(x), 1), round(float(y), 1)] for x, y in face.landmarks],
                "name": m.name if named else UNKNOWN,
                "distance": None if m.name is None else round(m.distance, 3),
                "nearest": m.name,
                "runner_up": m.runner_up,
                "runner_up_distance": None if m.runner_up is None else round(m.runner_up_distance, 3),
                "width_px": round(face.width), "quality": face.problem or "ok"})
        out.append(rows)
    return out
