"""Checks shared by the Ray tests: merged outputs read back and checked for gaps and duplicates."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import av

# Stages and sinks of the Ray tests' configs (a str.format template: braces doubled): a small, fast
# model and a tracker that keeps every box, with per-source files and driver-merged JSONL.
STAGES_AND_SINKS = """stages:
  - {{type: pose, model: yolo11n-pose, imgsz: 480, threads: 1, backend: onnxruntime, score_min: 0.1}}
  - {{type: track, tracker: sort, min_hits: 1, new_track_score: 0.1, high_score: 0.1, low_score: 0.05}}
sinks:
  - {{type: video, path: "{{source_id}}.mp4"}}
  - {{type: mot, path: "{{source_id}}.txt"}}
  - {{type: detections, path: detections.jsonl}}
  - {{type: events, path: events.jsonl}}
"""


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def frames_by_source(detections: list[dict[str, Any]]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = defaultdict(list)
    for row in detections:
        out[row["source"]].append(row["frame"])
    return out


def decoded_frames(path: Path) -> int:
    """Frames a video file decodes to (a killed writer's file: up to its last complete fragment)."""
    count = 0
    with av.open(str(path)) as container:
        try:
            for _ in container.decode(video=0):
                count += 1
        except av.error.InvalidDataError:  # the cut-off last fragment of a killed writer
            if count == 0:
                raise
    return count


def track_segments(detections: list[dict[str, Any]], boundaries: dict[str, list[int]]) -> dict[str, dict[int, set]]:
    """Per source, track id -> the segments (split at the resumed frames) it appears in."""
    seen: dict[str, dict[int, set]] = defaultdict(lambda: defaultdict(set))
    for row in detections:
        cuts = boundaries.get(row["source"], [])
        segment = sum(1 for cut in cuts if row["frame"] >= cut)
        for det in row["detections"]:
            if det.get("track_id", -1) >= 0:
                seen[row["source"]][det["track_id"]].add(segment)
    return seen
