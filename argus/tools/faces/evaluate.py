"""Face recognition accuracy on a data/faces-style folder (`run.py faces evaluate`).

`evaluate(data_dir)`: enrol `train/<person>/` (the largest face of each photo), identify every face of
`test/` and `variants/`, and count per image against the expected names (README of data/faces): a named
face is a true positive when that name is expected in the image, else a false positive (a stranger or a
wrong person named); an expected name not found is a false negative. Faces of people not enrolled must
come out `unknown`. `variants/` holds near-copies of training photos (biden.jpg is byte-identical): only
`test/` measures generalisation. The size study shrinks each test photo so its faces are W px wide and
scales it back up (the detail of a W px face, as the face stage sees an upscaled head crop).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import cv2
import numpy as np

EXPECTED_TEST = {"alex_lacamoire1.jpg": {"alex_lacamoire"}, "johnsnow_test1.jpg": {"kit_harington"},
                 "kit_with_rose.jpg": {"kit_harington", "rose_leslie"}, "obama1.jpg": {"obama"},
                 "obama_and_biden.jpg": {"obama", "biden"}}
EXPECTED_VARIANTS = {"obama-240p.jpg": {"obama"}, "obama-480p.jpg": {"obama"}, "obama-720p.jpg": {"obama"},
                     "obama-1080p.jpg": {"obama"}, "obama_small.jpg": {"obama"}, "biden.jpg": {"biden"}}
SIZES = (64, 48, 40, 32, 28, 24, 20, 16, 12)


def enrol_train(recognizer: Any, gallery_path: Path, data_dir: Path, people: list[str] | None = None) -> Any:
    """A gallery at gallery_path with the train/ photos of `people` (default all)."""
    from argus.tools.faces.enrol import enrol
    from stages.faces.gallery import Gallery

    info = recognizer.info
    gallery = Gallery(gallery_path, info.name, info.version, create=True)
    for folder in sorted((data_dir / "train").iterdir()):
        if folder.is_dir() and (people is None or folder.name in people):
            enrol(gallery, recognizer, folder.name, [str(folder)], largest=True)
    return gallery


def _score(rows: list[tuple[str, set[str], list[str]]]) -> dict[str, Any]:
    tp = fp = fn = 0
    wrong: list[str] = []
    for file, expected, names in rows:
        named = [n for n in names if n != "unknown"]
        for n in named:
            if n in expected:
                tp += 1
            else:
                fp += 1
                wrong.append(f"{file}: {n}")
        missed = expected - set(named)
        fn += len(missed)
        wrong.extend(f"{file}: missed {m}" for m in sorted(missed))
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return {"tp": tp, "fp": fp, "fn": fn, "precision": round(precision, 3), "recall": round(recall, 3),
            "errors": wrong}


def evaluate(data_dir: Path, *, threshold: float = 0.95, face_margin: float = 0.1, backend: str = "auto",
             sizes: tuple[int, ...] = SIZES) -> dict[str, Any]:
    from argus.tools.faces.enrol import read_image
    from argus.tools.faces.identify import identify
    from stages.faces.recognizer import Recognizer

    data_dir = Path(data_dir)
    recognizer = Recognizer(backend=backend)
    result: dict[str, Any] = {"detector": "retinaface", "embedder": recognizer.info.name,
                              "backend": recognizer.emb_choice.backend, "threshold": threshold,
                              "face_margin": face_margin}
    with tempfile.TemporaryDirectory() as tmp:
        gallery = enrol_train(recognizer, Path(tmp) / "g.db", data_dir)
        distances: dict[str, list[float]] = {"match": [], "non_match": []}
        for split, expected in (("test", EXPECTED_TEST), ("variants", EXPECTED_VARIANTS)):
            rows = []
            for file, names in expected.items():
                image = read_image(data_dir / split / file)
                faces = identify(recognizer, gallery, [image], threshold=threshold, face_margin=face_margin)[0]
                rows.append((file, names, [f["name"] for f in faces]))
                if split == "test":
                    for f in faces:
                        if f["name"] in names:
                            distances["match"].append(f["distance"])
                    found = recognizer.faces_in_images([image], embed_all=True)[0]
                    vectors = np.stack([f.embedding for f in found])
                    for person in gallery.names():  # every face against people not in the photo
                        if person not in names:
                            distances["non_match"].append(round(float(gallery.match_person(vectors, person).min()), 3))
            result[split] = _score(rows)
        result["test_distances"] = {"match_max": max(distances["match"], default=None),
                                    "non_match_min": min(distances["non_match"], default=None),
                                    "match": sorted(distances["match"])}
        by_size = {}
        for width in sizes:
            rows = []
            for file, names in EXPECTED_TEST.items():
                image = read_image(data_dir / "test" / file)
                found = recognizer.faces_in_images([image])[0]
                biggest = max((f.width for f in found), default=0.0)
                s = min(1.0, width / biggest) if biggest else 1.0
                h, w = image.shape[:2]
                small = cv2.resize(image, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
                back = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
                faces = identify(recognizer, gallery, [back], threshold=threshold, face_margin=face_margin)[0]
                rows.append((file, names, [f["name"] for f in faces]))
            scored = _score(rows)
            by_size[width] = {k: scored[k] for k in ("precision", "recall", "fp", "fn")}
        result["test_by_face_width"] = by_size
        gallery.close()
    recognizer.close()
    lines = [f"detector retinaface + embedder {result['embedder']} ({result['backend']}), threshold {threshold}, "
             f"face margin {face_margin}", "| set | precision | recall | TP | FP | FN |", "|---|---|---|---|---|---|"]
    for split in ("test", "variants"):
        r = result[split]
        lines.append(f"| {split} | {r['precision']} | {r['recall']} | {r['tp']} | {r['fp']} | {r['fn']} |")
    for width, r in by_size.items():
        lines.append(f"| test, largest face {width} px | {r['precision']} | {r['recall']} | | {r['fp']} | {r['fn']} |")
    result["table"] = "\n".join(lines)
    return result
