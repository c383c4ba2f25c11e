"""Annotated video per source: H.264 in fragmented MP4 through PyAV, else mp4v through OpenCV.

What is drawn is this sink's `annotate:` list (see `stages.annotate`), so each video output can
draw differently (an archive with everything, a public preview blurred).

Fragmented MP4 (`frag_keyframe+empty_moov`) stays playable up to the last finished fragment
even if the process is killed outright; an orderly stop writes every frame.
"""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av
import cv2
import numpy as np
from pydantic import Field, field_validator

from pipeline.stage import StageConfig
from pipeline.types import Packet
from stages.annotate import AnnotateSpec, annotate_key, annotate_packet, build_annotators, parse_annotate
from stages.sinks.base import SinkBase, output_path
from stages.sources.base import StreamStart

log = logging.getLogger(__name__)


class VideoSinkConfig(StageConfig):
    """An annotated MP4 per source (by default: boxes, skeletons, track ids and scores)."""

    type: Literal["video"] = "video"
    path: str = Field("{source_id}.mp4", description="File under output_dir; {source_id} is filled in.")
    codec: Literal["auto", "h264", "mp4v"] = Field("auto", description="auto = H.264 when PyAV has libx264.")
    crf: int = Field(23, ge=0, le=51, description="H.264 quality (lower = better, bigger).")
    annotate: AnnotateSpec = Field(
        True, validate_default=True,
        description="What to draw, in order: true = boxes, skeletons and '{track_id} {class_name} {score:.2f}' labels; "
        "false = the frames as decoded; or a list of annotators, e.g. [{type: blur, what: persons}, "
        "{type: boxes}, {type: label, text: '{identity}'}]. Types: boxes; skeleton (min_conf); label (text: "
        "a template over the detection's columns); blur (what: persons, style: blur|pixelate, cells).")

    _annotators = field_validator("annotate", mode="before")(parse_annotate)


# Frames up to 640x480 are encoded on one x264 thread: its own threads cost CPU that the models need.
# Measured on 2 cores (vtest.mp4 annotated, veryfast, crf 23): 480x360 2.2 against 2.9-3.3 CPU ms a frame
# (same file size), 640x480 3.4-3.8 against 4.2-4.6. Larger frames keep x264's threads: one thread took
# 24-36 ms a 1080p frame, too slow for a 30 fps camera on the output thread.
ONE_THREAD_PIXELS = 640 * 480


class _Writer:
    """One open video file."""

    def __init__(self, path: Path, width: int, height: int, fps: float, codec: str, crf: int) -> None:
        self.path, self.fps = path, fps
        self.size = (width - width % 2, height - height % 2)  # H.264 4:2:0 needs even sizes
        self.last_pts = -1
        self.first_pts_s: float | None = None
        self.container = None
        self.cv_writer = None
        if codec == "h264":
            self.container = av.open(str(path), "w", options={  # flush_packets: each fragment reaches the
                "movflags": "frag_keyframe+empty_moov+default_base_moof",  # file at once (plays after a kill)
                "flush_packets": "1"})
            self.stream = self.container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
            self.stream.width, self.stream.height = self.size
            self.stream.pix_fmt = "yuv420p"
            self.stream.options = {"preset": "veryfast", "crf": str(crf), "g": str(max(1, round(fps * 2))),
                                   **({"threads": "1"} if width * height <= ONE_THREAD_PIXELS else {})}
        else:
            self.cv_writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, self.size)
            if not self.cv_writer.isOpened():
                raise OSError(f"cannot write {path} with OpenCV mp4v")

    def write(self, image: np.ndarray, pts_s: float) -> None:
        if image.shape[1] != self.size[0] or image.shape[0] != self.size[1]:
            image = image[: self.size[1], : self.size[0]]
        if self.cv_writer is not None:
            self.cv_writer.write(np.ascontiguousarray(image))
            return
        if self.first_pts_s is None:
            self.first_pts_s = pts_s
        # Keep real timing (live sources drop frames) while never repeating a timestamp.
        pts = max(self.last_pts + 1, round((pts_s - self.first_pts_s) * self.fps))
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="bgr24")
        frame.pts, self.last_pts = pts, pts
        self.container.mux(self.stream.encode(frame))

    def close(self) -> None:
        if self.container is not None:
            self.container.mux(self.stream.encode(None))
            self.container.close()
            self.container = None
        if self.cv_writer is not None:
            self.cv_writer.release()
            self.cv_writer = None


def pick_codec(requested: str) -> str:
    """'h264' when PyAV can encode it, else 'mp4v' (the reason is logged once)."""
    if requested == "mp4v":
        return "mp4v"
    if "libx264" in av.codecs_available:
        return "h264"
    log.warning("video: PyAV has no libx264 encoder; writing mp4v with OpenCV instead (larger files, "
                "not playable in browsers)")
    return "mp4v"


class VideoSink(SinkBase):
    name = "video"

    def __init__(self, config: VideoSinkConfig, output_dir: Path) -> None:
        self.config, self.output_dir = config, output_dir
        self.codec = pick_codec(config.codec)
        self.annotators, self._draw_key = build_annotators(config.annotate), annotate_key(config.annotate)
        self._writers: dict[str, _Writer] = {}
        self._fps: dict[str, float] = {}

    def reconfigure(self, config: VideoSinkConfig) -> bool:
        """Take a changed `annotate:` in place, files staying open; False (nothing changed) when any
        other setting differs (a new path, codec or quality needs new files)."""
        if config.model_dump(exclude={"annotate", "id"}) != self.config.model_dump(exclude={"annotate", "id"}):
            return False
        self.annotators, self._draw_key = build_annotators(config.annotate), annotate_key(config.annotate)
        self.config = config
        return True

    def start_source(self, start: StreamStart) -> None:
        self._fps[start.source_id] = start.fps

    def write(self, packet: Packet) -> None:
        frame = packet.frame
        writer = self._writers.get(frame.source_id)
        if writer is None:
            path = output_path(self.output_dir, self.config.path, frame.source_id)
            writer = _Writer(path, frame.width, frame.height, self._fps.get(frame.source_id, 25.0),
                             self.codec, self.config.crf)
            self._writers[frame.source_id] = writer
        image = frame.image
        if self.annotators:
            image = annotate_packet(packet, self.annotators, self._draw_key)
        writer.write(image, frame.pts_s)

    def end_source(self, source_id: str) -> None:
        writer = self._writers.pop(source_id, None)
        if writer is not None:
            writer.close()

    def close(self) -> None:
        for source_id in list(self._writers):
            self.end_source(source_id)
