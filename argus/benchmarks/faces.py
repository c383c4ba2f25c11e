"""Face recognition speed (`run.py bench faces`): ms per face, batched vs one by one, and the face
stage's ms per frame in a full pipeline. Run on a quiet machine; times are wall-clock on this process.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from argus.tools.faces.evaluate import enrol_train
from argus.tools.shared_data import shared_data


def _time(fn: Any, repeat: int) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat * 1000.0


def bench(video: Path, *, frames: int = 200, backend: str = "auto", device: str = "auto",
          gallery_dir: Path | None = None, batch: int = 16, repeat: int = 10) -> dict[str, Any]:
    """ms per face (detector on head crops, embedder), batched vs one by one; and the face stage's
    ms per frame in a full pose + track + face pipeline on `video`. `gallery_dir`: a data/faces-style
    folder whose train/ photos make the gallery (default: the shared faces)."""
    from argus.tools.faces.enrol import image_files, read_image
    from pipeline import Pipeline
    from stages.faces.recognizer import HEAD_INPUT, Recognizer

    gallery_dir = Path(gallery_dir) if gallery_dir is not None else shared_data("faces")
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
