"""Face recognition: accuracy on a data/faces-style folder, and speed.

`evaluate(data_dir)` (`run.py faces evaluate`): enrol `train/<person>/` (the largest face of each
photo), identify every face of `test/` and `variants/`, and count per image against the expected
names (README of data/faces): a named face is a true positive when that name is expected in the
image, else a false positive (a stranger or a wrong person named); an expected name not found is a
false negative. Faces of people not enrolled must come out `unknown`. `variants/` holds near-copies
of training photos (biden.jpg is byte-identical): only `test/` measures generalisation. The size
study shrinks each test photo so its faces are W px wide and scales it back up (the detail of a W px
face, as the face stage sees an upscaled head crop).

`bench(video)` (`run.py faces bench`): run on a quiet machine; times are wall-clock on this process.
"""

from __future__ import annotations

import tempfile
import time
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
    from stages.faces.enrol import enrol
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
    from stages.faces.enrol import read_image
    from stages.faces.identify import identify
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


def _time(fn: Any, repeat: int) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat * 1000.0


def bench(video: Path, *, frames: int = 200, backend: str = "auto", device: str = "auto",
          gallery_dir: Path = Path("../shared/data/faces"), batch: int = 16, repeat: int = 10) -> dict[str, Any]:
    """ms per face (detector on head crops, embedder), batched vs one by one; and the face stage's
    ms per frame in a full pose + track + face pipeline on `video`."""
    from pipeline import Pipeline
    from stages.faces.enrol import image_files, read_image
    from stages.faces.recognizer import HEAD_INPUT, Recognizer

    recognizer = Recognizer(backend=backend, device=device)
    images = [read_image(p) for p in image_files([str(Path(gallery_dir) / "train")])]
    found = [f for fs in recognizer.faces_in_images([i for i in images if i is not None], embed_all=True) for f in fs]
    crops = [f.aligned for f in found]
    crops = (crops * (batch // max(len(crops), 1) + 1))[:batch]
    heads = [cv2.resize(c, (HEAD_INPUT, HEAD_INPUT)) for c in crops]
    det, emb = recognizer.detector, recognizer.embedder
    size = (HEAD_INPUT, HEAD_INPUT)
    result: dict[str, Any] = {"backend": recognizer.emb_choice.backend, "device": recognizer.emb_choice.device,
                              "batch": batch}
    result["detector_ms_per_crop_batched"] = round(_time(lambda: det.detect(heads, size), repeat) / batch, 2)
    result["detector_ms_per_crop_single"] = round(
        _time(lambda: [det.detect([h], size) for h in heads], repeat) / batch, 2)
    result["embedder_ms_per_face_batched"] = round(_time(lambda: emb.embed(crops), repeat) / batch, 2)
    result["embedder_ms_per_face_single"] = round(
        _time(lambda: [emb.embed([c]) for c in crops], repeat) / batch, 2)
    with tempfile.TemporaryDirectory() as tmp:
        enrol_train(recognizer, Path(tmp) / "g.db", Path(gallery_dir), ["obama", "kit_harington"]).close()
        recognizer.close()
        clip = photo_clip(Path(gallery_dir), Path(tmp) / "clip", frames)
        for name, uri in (("video", str(video)), ("photo_clip", str(clip))):
            timings: dict[str, list[float]] = {}
            people = 0
            config = {"sources": [{"id": "bench", "uri": uri, "max_frames": frames, "fps": 25}],
                      "stages": [{"type": "pose"}, {"type": "track"},
                                 {"type": "face", "gallery": str(Path(tmp) / "g.db"), "backend": backend,
                                  "device": device}],
                      "sinks": [], "output_dir": str(Path(tmp) / "out"), "runner": {"progress": False}}
            if name == "video":
                del config["sources"][0]["fps"]
            pipeline = Pipeline.from_config(config)
            face_stage = next(s for s in pipeline_stages(pipeline) if getattr(s, "name", "") == "face")
            for packet in pipeline.packets():
                people += len(packet.detections)
                for stage, ms in packet.timings.items():
                    timings.setdefault(stage, []).append(ms)
            count = len(next(iter(timings.values()), []))
            result[name] = {"source": uri if name == "video" else "5 photo people panning, 1280x720",
                            "frames": count, "people_per_frame": round(people / max(count, 1), 1),
                            "ms_per_frame": {stage: round(float(np.mean(v)), 2) for stage, v in timings.items()},
                            "face_stage": dict(face_stage.stats)}
    result["table"] = "\n".join(f"{k}: {v}" for k, v in result.items() if k != "table")
    return result


def pipeline_stages(pipeline: Any) -> list[Any]:
    """The stage objects of a built pipeline (for their counters)."""
    return [slot.stage for slot in pipeline.worker.chain.slots]


def photo_clip(data_dir: Path, out: Path, frames: int, people: int = 5) -> Path:
    """A 1280x720 image folder: `people` test/ and train/ photos (faces about 60-110 px wide) side by
    side, drifting left and right by a few px per frame (a wall of people in front of a camera)."""
    out.mkdir(parents=True, exist_ok=True)
    files = [data_dir / "test" / "obama1.jpg", data_dir / "test" / "alex_lacamoire1.jpg",
             data_dir / "test" / "johnsnow_test1.jpg", data_dir / "train" / "rose_leslie" / "img1.jpg",
             data_dir / "train" / "biden" / "biden.jpg"][:people]
    tiles = []
    for f in files:
        image = cv2.imread(str(f))
        scale = 240 / min(image.shape[:2])
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        h, w = image.shape[:2]
        tiles.append(image[(h - 240) // 2:(h - 240) // 2 + 240, (w - 240) // 2:(w - 240) // 2 + 240])
    for i in range(frames):
        frame = np.full((720, 1280, 3), 90, np.uint8)
        for k, tile in enumerate(tiles):
            x = 10 + k * 250 + int(10 * np.sin(i / 10 + k))
            y = 200 + int(20 * np.cos(i / 15 + k))
            frame[y:y + 240, x:x + 240] = tile
        cv2.imwrite(str(out / f"{i:05d}.jpg"), frame)
    return out
