"""`run.py bench detection`: what a config finds on real frames with ground truth, against `yolo track`.

For every MOTChallenge sequence with its frames (`<SEQ>/img1/*.jpg`, `gt/gt.txt`, `seqinfo.ini`):

- person recall and precision at IoU 0.5 against the ground truth (rows flagged 0 are left out; boxes
  clipped to the image), overall and by ground-truth height;
- the share of the people found that carry keypoints (at least one keypoint of confidence >= 0.5);
- end to end: the config's tracked people scored by TrackEval (HOTA, IDF1, ...), beside `yolo track`
  with each peer model and tracker config (persons only, same image size), on the same frames.

Accuracy only: speed is `bench pipeline`'s job.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from argus.tools.tracking.evaluate import score
from argus.tools.tracking.mot import read_mot_rows, read_seqinfo, write_results
from engines.agreement import match_boxes
from pipeline.types import Detections

HEIGHT_BINS = (0, 50, 100, 150, 250, 10_000)
PEER_MODELS = ("yolo11n-pose", "yolov8n")
PEER_TRACKERS = ("bytetrack", "botsort")
VISIBLE = 0.5


def frame_sequences(data_dir: Path) -> list[Path]:
    """Sequence folders under `data_dir` (or `data_dir` itself) holding img1/ frames and gt/gt.txt."""
    candidates = [data_dir, *sorted(p for p in data_dir.iterdir() if p.is_dir())] if data_dir.is_dir() else []
    found = [p for p in candidates if (p / "img1").is_dir() and (p / "gt" / "gt.txt").is_file()]
    if not found:
        raise FileNotFoundError(f"{data_dir}: no sequence with img1/ frames and gt/gt.txt")
    return found


def ground_truth(seq: Path) -> dict[int, np.ndarray]:
    """1-based frame -> (N, 4) xyxy ground-truth people (flag 1 rows), clipped to the image."""
    info = read_seqinfo(seq / "seqinfo.ini")
    width, height = float(info["imWidth"]), float(info["imHeight"])
    rows = read_mot_rows(seq / "gt" / "gt.txt")
    rows = rows[rows[:, 6] != 0]
    out: dict[int, np.ndarray] = {}
    for frame in range(1, int(info["seqLength"]) + 1):
        r = rows[rows[:, 0] == frame]
        xyxy = np.column_stack([r[:, 2:4], r[:, 2:4] + r[:, 4:6]])
        xyxy[:, 0::2] = np.clip(xyxy[:, 0::2], 0, width)
        xyxy[:, 1::2] = np.clip(xyxy[:, 1::2], 0, height)
        out[frame] = xyxy
    return out


def detection_scores(gt: dict[int, np.ndarray], people: dict[int, Detections]) -> dict[str, Any]:
    """Recall, precision and keypoint share (overall and by ground-truth height) of `people` per frame."""
    bins = list(pairwise(HEIGHT_BINS))
    per_bin = {f"{lo}-{hi}" if hi < 10_000 else f">={lo}": [0, 0, 0] for lo, hi in bins}  # gt, found, keypoints
    total_gt = total_found = matched = with_kp = 0
    for frame, boxes in gt.items():
        dets = people.get(frame, Detections.empty())
        pairs = match_boxes(boxes, dets.xyxy)
        total_gt += len(boxes)
        total_found += len(dets)
        matched += len(pairs)
        heights = boxes[:, 3] - boxes[:, 1]
        found = {g: f for g, f in pairs}
        for g, h in enumerate(heights):
            key = next(k for k, (lo, hi) in zip(per_bin, bins, strict=True) if lo <= h < hi)
            per_bin[key][0] += 1
            if g in found:
                per_bin[key][1] += 1
                kp = dets.keypoints
                if kp is not None and (kp[found[g], :, 2] >= VISIBLE).any():
                    per_bin[key][2] += 1
                    with_kp += 1
    return {"people": total_gt, "recall": round(matched / max(total_gt, 1), 4),
            "precision": round(matched / max(total_found, 1), 4),
            "keypoint_share": round(with_kp / max(matched, 1), 4),
            "by_height": {k: {"people": v[0], "recall": round(v[1] / v[0], 4) if v[0] else None,
                              "keypoint_share": round(v[2] / v[1], 4) if v[1] else None}
                          for k, v in per_bin.items()}}


def _people(dets: Detections) -> Detections:
    names = dets.extra.get("class_name")
    return dets[names == "person"] if names is not None else dets[dets.class_id == 0]


def run_argus(config: str | None, seq: Path, overrides: Sequence[str] = ()) -> dict[int, Detections]:
    """1-based frame -> the people (rows of class person) `config` finds and tracks on `seq`'s frames."""
    from pipeline import Pipeline

    fps = float(read_seqinfo(seq / "seqinfo.ini").get("frameRate", 25))
    with tempfile.TemporaryDirectory() as out:
        pipeline = Pipeline.from_yaml(config, overrides=[
            *overrides, f"sources=[{{id: seq, uri: '{seq / 'img1'}', fps: {fps}}}]", "sinks=[]",
            f"output_dir={out}", "runner.progress=false"])
        return {p.frame.index + 1: _people(p.detections) for p in pipeline.packets()}


def run_peer(model: str, tracker: str, seq: Path, imgsz: int = 640) -> dict[int, Detections]:
    """1-based frame -> people tracked by `yolo track` (ultralytics, persons only) on `seq`'s frames."""
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_AUTOINSTALL", "0")
    from ultralytics import YOLO

    from stages.models.ultralytics import resolve_weights

    yolo = YOLO(str(resolve_weights(model)))
    out: dict[int, Detections] = {}
    frames = sorted((seq / "img1").glob("*.jpg"))
    for i, result in enumerate(yolo.track(source=[str(f) for f in frames], stream=True, persist=True,
                                          tracker=f"{tracker}.yaml", imgsz=imgsz, classes=[0], verbose=False)):
        boxes = result.boxes
        ids = boxes.id.numpy().astype(np.int64) if boxes.id is not None else np.full(len(boxes), -1, np.int64)
        out[i + 1] = Detections(xyxy=boxes.xyxy.numpy(), score=boxes.conf.numpy(),
                                class_id=np.zeros(len(boxes), np.int32), track_id=ids)
    return out


def _tracking(seqs: list[Path], runs: dict[str, dict[str, dict[int, Detections]]]) -> dict[str, dict]:
    """TrackEval scores of every run (name -> seq -> frames) on `seqs`."""
    with tempfile.TemporaryDirectory() as tmp:
        gt_root, results = Path(tmp) / "gt", Path(tmp) / "results"
        lengths = {}
        for seq in seqs:
            info = read_seqinfo(seq / "seqinfo.ini")
            lengths[seq.name] = int(info["seqLength"])
            (gt_root / seq.name / "gt").mkdir(parents=True)
            text = (seq / "gt" / "gt.txt").read_text().replace("\r\n", "\n")
            (gt_root / seq.name / "gt" / "gt.txt").write_text(text)
            (gt_root / seq.name / "seqinfo.ini").write_text((seq / "seqinfo.ini").read_text())
        for name, per_seq in runs.items():
            for seq_name, frames in per_seq.items():
                tracked = [(f, d if d.track_id is not None else d.with_columns(
                    track_id=np.full(len(d), -1, np.int64))) for f, d in sorted(frames.items())]
                write_results(results / name / f"{seq_name}.txt", tracked)
        return score(gt_root, results, list(runs), lengths)


def bench_detection(data_dir: Path, config: str | None = None, overrides: Sequence[str] = (),
                    peers: bool = True, imgsz: int = 640) -> dict[str, Any]:
    """Detection and tracking scores of `config` (default: the built-in one) and, with `peers`, of
    `yolo track` with each peer model and tracker, on every sequence with frames under `data_dir`."""
    seqs = frame_sequences(data_dir)
    runs: dict[str, dict[str, dict[int, Detections]]] = {"argus": {s.name: run_argus(config, s, overrides)
                                                                   for s in seqs}}
    if peers:
        for model in PEER_MODELS:
            for tracker in PEER_TRACKERS:
                runs[f"yolo-track:{model}:{tracker}"] = {s.name: run_peer(model, tracker, s, imgsz) for s in seqs}
    detection = {name: {s.name: detection_scores(ground_truth(s), per_seq[s.name]) for s in seqs}
                 for name, per_seq in runs.items()}
    tracking = _tracking(seqs, runs)
    return {"sequences": [s.name for s in seqs], "config": config or "built-in default",
            "overrides": list(overrides), "detection": detection,
            "tracking": {name: scores["COMBINED"] for name, scores in tracking.items()},
            "tracking_per_sequence": tracking}


def _views(seq: Path, layout: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """(image, ground-truth boxes) pairs of `seq` in a camera `layout`: `native`; `480x360` (each frame
    shrunk to 480x360, a low-resolution camera); `mosaic3x3` (3x3 different frames side by side, a
    camera with 9x the pixels and people as large as in the original: far people once the mosaic is
    fitted into the network input)."""
    import cv2

    gt = ground_truth(seq)
    images = [cv2.imread(str(f)) for f in sorted((seq / "img1").glob("*.jpg"))]
    if layout == "native":
        return [(img, gt[i + 1]) for i, img in enumerate(images)]
    if layout == "480x360":
        out = []
        for i, img in enumerate(images):
            sx, sy = 480 / img.shape[1], 360 / img.shape[0]
            out.append((cv2.resize(img, (480, 360), interpolation=cv2.INTER_AREA), gt[i + 1] * [sx, sy, sx, sy]))
        return out
    if layout == "mosaic3x3":
        out = []
        for start in range(0, len(images) - 8, 9):
            tiles, boxes = images[start:start + 9], []
            h, w = tiles[0].shape[:2]
            for k in range(9):
                r, c = divmod(k, 3)
                boxes.append(gt[start + k + 1] + [c * w, r * h, c * w, r * h])
            out.append((np.vstack([np.hstack(tiles[r * 3:r * 3 + 3]) for r in range(3)]), np.concatenate(boxes)))
        return out
    raise ValueError(f"unknown layout {layout!r} (native, 480x360, mosaic3x3)")


def input_size_study(data_dir: Path, sizes: Sequence[int | str], layouts: Sequence[str] = ("480x360", "mosaic3x3"),
                     model: str = "yolov8n") -> dict[str, dict[str, dict[str, float]]]:
    """Person recall and precision (IoU 0.5) of `model` (FP32, persons only) per camera layout and input
    size, on the real frames of every sequence under `data_dir`: how the input size should follow the
    camera. Sizes are ints or "auto"."""
    from pipeline.types import Frame, Packet
    from stages.detect import DetectConfig, YoloStage

    seqs = frame_sequences(data_dir)
    out: dict[str, dict[str, dict[str, float]]] = {}
    for layout in layouts:
        views = [v for s in seqs for v in _views(s, layout)]
        out[layout] = {}
        for size in sizes:
            stage = YoloStage(DetectConfig(model=model, imgsz=size, classes=["person"], precision="fp32",
                                           embeddings=False))
            matched = total = found = 0
            try:
                for image, boxes in views:
                    dets = stage.process([Packet(Frame("study", 0, 0.0, image))])[0].detections
                    matched += len(match_boxes(boxes, dets.xyxy))
                    total += len(boxes)
                    found += len(dets)
            finally:
                stage.close()
            out[layout][str(size)] = {"recall": round(matched / max(total, 1), 4),
                                      "precision": round(matched / max(found, 1), 4), "people": total,
                                      "image": f"{views[0][0].shape[1]}x{views[0][0].shape[0]}"}
    return out
