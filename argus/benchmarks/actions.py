"""`run.py bench actions` (also `run.py actions bench`): the action stage's ms per frame with N tracked
people.

Synthetic input (no video decoding or pose model): N people standing in a row and swaying, one
frame at 30 FPS after another, through the stage's own `process`. Two ways, same stage and data:
batched (the features of every track's window computed together and one model call per frame, what
the stage does) and one by one (features and a model call per window, as a per-track classifier
would), each after a warm-up of one window length, best of `rounds` interleaved rounds.
"""

from __future__ import annotations

import time

import numpy as np

from pipeline.types import Detections, Frame, Packet
from stages.actions.stage import ActionConfig, ActionStage

_POSE = np.array([[0, -80], [-5, -85], [5, -85], [-10, -82], [10, -82], [-20, -60], [20, -60], [-25, -30],
                  [25, -30], [-25, 0], [25, 0], [-12, 0], [12, 0], [-12, 45], [12, 45], [-12, 90], [12, 90]],
                 np.float32)


def _packets(tracks: int, frames: int) -> list[Packet]:
    image = np.zeros((720, 1280, 3), np.uint8)
    out = []
    for i in range(frames):
        t = i / 30.0
        xs = 60 + 58 * np.arange(tracks) + 5 * np.sin(t * 3 + np.arange(tracks))
        kp = np.zeros((tracks, 17, 3), np.float32)
        kp[:, :, :2] = _POSE[None] + np.stack([xs, np.full(tracks, 400.0)], 1)[:, None, :]
        kp[:, :, 2] = 0.9
        xyxy = np.concatenate([kp[:, :, :2].min(1) - 5, kp[:, :, :2].max(1) + 5], 1)
        det = Detections(xyxy=xyxy, score=np.full(tracks, 0.9), class_id=np.zeros(tracks, np.int32),
                         track_id=np.arange(1, tracks + 1), keypoints=kp)
        out.append(Packet(Frame("bench", i, t, image), det))
    return out


def _time(stage: ActionStage, packets: list[Packet], warm: int) -> float:
    for p in packets[:warm]:
        stage.process([p])
    start = time.perf_counter()
    for p in packets[warm:]:
        stage.process([p])
    return (time.perf_counter() - start) * 1000 / max(1, len(packets) - warm)


def _one_by_one(stage: ActionStage) -> ActionStage:
    stage.batched = False
    return stage


def bench_actions(model: str = "builtin", tracks: int = 20, frames: int = 300, rounds: int = 3,
                  backend: str = "onnxruntime") -> dict:
    """Best of `rounds` interleaved runs of each way (fresh stages each round), ms per frame."""
    config = ActionConfig(model=model, backend=backend)  # type: ignore[arg-type]
    best = {"batched": float("inf"), "one_by_one": float("inf")}
    warm = 0
    for _ in range(rounds):
        for way in best:
            stage = ActionStage(config) if way == "batched" else _one_by_one(ActionStage(config))
            warm = int(np.ceil(stage.window_s * 30)) + 2
            try:
                best[way] = min(best[way], _time(stage, _packets(tracks, warm + frames), warm))
            finally:
                stage.close()
    return {"model": model, "backend": backend if model != "rules" else None, "tracks": tracks, "frames": frames,
            "rounds": rounds,
            "batched_ms_per_frame": round(best["batched"], 3),
            "one_by_one_ms_per_frame": round(best["one_by_one"], 3)}
