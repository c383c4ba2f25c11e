"""Sources: what `uri` means, and the reader for each kind (video/RTSP, files, images, webcam, demo)."""

from __future__ import annotations

import glob
from pathlib import Path
from typing import TYPE_CHECKING

from stages.sources.base import Source, SourceItem, StreamEnd, StreamLost, StreamRecovered, StreamStart

if TYPE_CHECKING:
    from pipeline.config import SourceConfig

__all__ = ["Source", "SourceItem", "StreamEnd", "StreamLost", "StreamRecovered", "StreamStart", "infer_kind",
           "make_source"]

LIVE_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://")


def infer_kind(uri: str) -> str:
    """The source kind `auto` resolves to for `uri`."""
    if uri == "demo":
        return "demo"
    if uri.startswith(LIVE_SCHEMES):
        return "rtsp"
    if uri.isdigit():
        return "webcam"
    if any(ch in uri for ch in "*?["):
        return "files"
    if Path(uri).is_dir():
        return "images"
    return "video"


def make_source(config: SourceConfig) -> Source:
    """The reader for one configured source (nothing is opened yet)."""
    from stages.sources.demo import DemoSource
    from stages.sources.files import FileListSource
    from stages.sources.images import ImageFolderSource
    from stages.sources.rtsp import RtspSource
    from stages.sources.video import VideoSource
    from stages.sources.webcam import WebcamSource

    kind = infer_kind(config.uri) if config.kind == "auto" else config.kind
    if kind == "demo":
        return DemoSource(config.id)
    if kind == "rtsp":
        return RtspSource(config.id, config.uri, transport=config.transport, timeout_s=config.open_timeout_s,
                          reconnect=config.reconnect, reconnect_max_s=config.reconnect_max_s)
    if kind == "webcam":
        return WebcamSource(config.id, int(config.uri))
    if kind == "files":
        return FileListSource(config.id, [Path(p) for p in sorted(glob.glob(config.uri, recursive=True))])
    if kind == "images":
        return ImageFolderSource(config.id, Path(config.uri), fps=config.fps or 25.0)
    return VideoSource(config.id, config.uri, loop=config.loop, realtime=config.realtime)
