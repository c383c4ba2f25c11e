"""`run.py bench motion`: what motion gating saves and what it keeps, on a still camera and a busy one.

- A still-camera video is built from a real action clip (a GMDCSA24 fall: one person in a room, a
  fixed camera): `empty_s` seconds of the empty room (the clip's per-pixel median, with sensor-like
  noise on every frame), the clip, then the empty room again.
- The default config runs on it ungated and gated (`motion: true`): the share of frames the detector
  ran on, the frames where the ungated run found a person and the gated run kept one, and the
  person events (`track_started` / `track_ended`) of both runs.
- On a busy video (vtest.mp4, people walking all the time) it reports the share of frames gated
  still and the gate's own cost per frame against the ungated pipeline's time per frame.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from argus.benchmarks.engines import video_frames
from argus.benchmarks.streams import file_fps
from pipeline.motion import MotionConfig, MotionGate


def _frames(video: Path) -> tuple[list[np.ndarray], float]:
    """Every frame of `video` and its frame rate."""
    return video_frames(video), file_fps(video)


def still_camera_video(clip: Path, out: Path, empty_s: float = 8.0, noise: float = 2.0,
                       seed: int = 0) -> tuple[Path, tuple[int, int]]:
    """Write `out` (mp4): the empty room for `empty_s`, `clip`, the empty room again (see the module
    docstring); returns it and the range of the clip's frames in it. The empty room is the clip's
    per-pixel median; each of its frames gets Gaussian noise of `noise` grey levels, as a sensor adds."""
    frames, fps = _frames(clip)
    room = np.median(np.stack(frames[::2]), axis=0).astype(np.float32)
    rng = np.random.default_rng(seed)
    height, width = room.shape[:2]
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    empty = round(empty_s * fps)

    def write_empty() -> None:
        for _ in range(empty):
            writer.write(np.clip(room + rng.normal(0, noise, room.shape), 0, 255).astype(np.uint8))

    write_empty()
    for frame in frames:
        writer.write(frame)
    write_empty()
    writer.release()
    return out, (empty, empty + len(frames))


def run_default(video: Path, motion: bool, config: str | None = None) -> dict[str, Any]:
    """The config (default: the built-in one) on `video`: per frame, whether it holds a person row; the
    person events; the detector's frames run and skipped."""
    from pipeline import Pipeline

    with tempfile.TemporaryDirectory(prefix="argus-motion-") as out:
        pipeline = Pipeline.from_yaml(config, overrides=[
            f"sources=[{{id: cam, uri: '{video}', motion: {str(motion).lower()}}}]",
            "sinks=[{type: events, path: events.jsonl}]", f"output_dir={out}", "runner.progress=false"])
        people: list[bool] = []
        start = time.perf_counter()
        for packet in pipeline.packets():
            names = packet.detections.extra.get("class_name")
            people.append(bool(names is not None and (names == "person").any()))
        seconds = time.perf_counter() - start
        stages = pipeline.stats()["stages"]
        events = [json.loads(line) for line in (Path(out) / "events.jsonl").read_text().splitlines()]
    tracks = [e for e in events if e["type"] in ("track_started", "track_ended")]
    return {"frames": len(people), "seconds": round(seconds, 2), "people": people,
            "stages": {k: {"frames": v["frames"], "skipped": v.get("skipped", 0)} for k, v in stages.items()},
            "track_events": [(e["type"], e.get("track_id"), round(e.get("pts_s") or 0.0, 2)) for e in tracks]}


def gate_cost(video: Path, frames: int = 300) -> dict[str, float]:
    """The gate alone on `video`'s first frames: the share it calls still, and its ms per frame."""
    images, fps = _frames(video)
    images = images[:frames]
    gate = MotionGate(MotionConfig())
    gate.moving(images[0], 0.0)
    start = time.perf_counter()
    still = sum(not gate.moving(image, i / fps) for i, image in enumerate(images[1:], 1))
    ms = 1000 * (time.perf_counter() - start) / max(1, len(images) - 1)
    return {"frames": len(images), "still_share": round(still / max(1, len(images) - 1), 4), "gate_ms": round(ms, 3)}


def bench_motion(clip: Path, busy: Path, config: str | None = None) -> dict[str, Any]:
    """The figures of the module docstring."""
    with tempfile.TemporaryDirectory(prefix="argus-still-") as tmp:
        video, (first, last) = still_camera_video(clip, Path(tmp) / "still.mp4")
        ungated, gated = run_default(video, False, config), run_default(video, True, config)
    # the person is in view on the clip's frames only; a person row on the empty room's is a false one
    with_person = [i for i in range(first, last) if ungated["people"][i]]
    kept = sum(gated["people"][i] for i in with_person)
    empty = [i for i in range(ungated["frames"]) if not first <= i < last]
    detect = next(iter(gated["stages"].values()))
    busy_run = run_default(busy, False, config)
    cost = gate_cost(busy)
    return {
        "still_video": {"clip": str(clip), "frames": gated["frames"],
                        "model_share": round(detect["frames"] / max(1, gated["frames"]), 4),
                        "person_frames_ungated": len(with_person),
                        "person_kept_share": round(kept / max(1, len(with_person)), 4),
                        "clip_frames": [first, last],
                        "false_person_frames_in_empty_room": {
                            "ungated": sum(ungated["people"][i] for i in empty),
                            "gated": sum(gated["people"][i] for i in empty), "of": len(empty)},
                        "track_events_ungated": ungated["track_events"], "track_events_gated": gated["track_events"],
                        "stages_gated": gated["stages"]},
        "busy_video": {"video": str(busy), **cost,
                       "pipeline_ms_per_frame": round(1000 * busy_run["seconds"] / max(1, busy_run["frames"]), 2),
                       "gate_share_of_pipeline": round(cost["gate_ms"] * busy_run["frames"]
                                                       / max(1e-9, 1000 * busy_run["seconds"]), 4)},
    }
