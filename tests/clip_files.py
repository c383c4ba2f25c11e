"""Real clips for the web app's tests, in the clips sink's index format: fragmented H.264 MP4s
(PyAV), JPEG thumbnails and `clips.jsonl` rows (the last row of an id wins); and how the clips tests
measure a clip's duration (ffprobe)."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import pytest

FRAGMENTED = {"movflags": "frag_keyframe+empty_moov+default_base_moof"}
FFPROBE = shutil.which("ffprobe")
needs_ffprobe = pytest.mark.skipif(FFPROBE is None, reason="ffprobe not installed (Debian's ffmpeg package)")


def probe_duration(path: Path) -> float:
    """The file's duration as ffprobe reports it (what a player shows)."""
    result = subprocess.run([str(FFPROBE), "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
                             str(path)], capture_output=True, text=True, check=True)
    return float(result.stdout)


def write_fragmented(path: Path, frames: int, fps: int = 25, size: tuple[int, int] = (320, 240),
                     gop: int = 25) -> np.ndarray:
    """A fragmented H.264 MP4 of a square moving over a gradient; returns its first frame (BGR)."""
    width, height = size
    path.parent.mkdir(parents=True, exist_ok=True)
    first = None
    with av.open(str(path), "w", format="mp4", options=FRAGMENTED) as container:
        stream = container.add_stream("libx264", rate=Fraction(fps), options={"preset": "veryfast"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.gop_size = gop
        for i in range(frames):
            image = np.full((height, width, 3), 50, np.uint8)
            image[:, :, 1] = np.arange(width, dtype=np.uint8)[None] // 2
            x = (i * 6) % (width - 40)
            image[80:130, x:x + 40] = (20, 220, 250)
            first = image if first is None else first
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")))
        container.mux(stream.encode(None))
    assert first is not None
    return first


def make_clip(folder: Path, clip_id: str, source: str = "cam1", trigger: str = "zone_entered",
              wall_time: float | None = None, state: str = "closed", frames: int = 50, fps: int = 25,
              thumbnail: bool = True) -> dict[str, Any]:
    """Write a clip's MP4 (and thumbnail) under `folder/source/` and append its row to the index."""
    mp4 = folder / source / f"{clip_id}.mp4"
    first = write_fragmented(mp4, frames, fps)
    row: dict[str, Any] = {
        "id": clip_id, "source": source, "path": f"{source}/{clip_id}.mp4", "start_pts_s": 10.0,
        "end_pts_s": 10.0 + frames / fps, "events": [f"ev-{clip_id}"], "track_ids": [1],
        "thumbnail": None, "trigger": {"event": trigger},
        "wall_time": datetime.fromtimestamp(wall_time if wall_time is not None else 1.8e9, UTC).isoformat(),
        "state": state, "bytes": mp4.stat().st_size}
    if thumbnail:
        jpg = mp4.with_suffix(".jpg")
        cv2.imwrite(str(jpg), first)
        row["thumbnail"] = f"{source}/{clip_id}.jpg"
    append_row(folder, row)
    return row


def append_row(folder: Path, row: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "clips.jsonl").open("a", encoding="utf-8") as index:
        index.write(json.dumps(row) + "\n")
