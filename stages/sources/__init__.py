"""Sources: one reader per kind (video file, glob of files, image folder, webcam, RTSP, demo).

Each kind has a config model (a `SourceConfig` with its own keys) and a reader, registered with
`Registry.add_source` by `stages/plugin.py` (`register_sources`); a config picks the kind by
`kind:` or, without one, by the URI's scheme or shape.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.registry import Registry, default_registry
from stages.sources.base import Source, SourceItem, StreamEnd, StreamLost, StreamRecovered, StreamStart
from stages.sources.demo import DemoSource, DemoSourceConfig
from stages.sources.files import FileListSource, FilesSourceConfig, is_glob
from stages.sources.images import ImageFolderSource, ImagesSourceConfig
from stages.sources.rtsp import LIVE_SCHEMES, RtspSource, RtspSourceConfig
from stages.sources.video import VideoSource, VideoSourceConfig
from stages.sources.webcam import WebcamSource, WebcamSourceConfig

if TYPE_CHECKING:
    from pipeline.source_config import SourceConfig

__all__ = ["Source", "SourceItem", "StreamEnd", "StreamLost", "StreamRecovered", "StreamStart", "infer_kind",
           "make_source", "register_sources"]


def register_sources(registry: Registry) -> None:
    """Add the built-in source kinds; a URI that none claims is a video file."""
    registry.add_source("demo", DemoSourceConfig, DemoSource.from_config, matches=lambda uri: uri == "demo")
    registry.add_source("rtsp", RtspSourceConfig, RtspSource.from_config, schemes=LIVE_SCHEMES)
    registry.add_source("webcam", WebcamSourceConfig, WebcamSource.from_config, matches=str.isdigit)
    registry.add_source("files", FilesSourceConfig, FileListSource.from_config, matches=is_glob)
    registry.add_source("images", ImagesSourceConfig, ImageFolderSource.from_config,
                        matches=lambda uri: Path(uri).is_dir())
    registry.add_source("video", VideoSourceConfig, VideoSource.from_config)
    registry.default_source_kind = "video"


def infer_kind(uri: str, registry: Registry | None = None) -> str:
    """The source kind a `uri` without `kind:` means (default: the installed plugins' kinds)."""
    return (registry or default_registry()).source_kind_for(uri) or "video"


def make_source(config: SourceConfig, registry: Registry | None = None) -> Source:
    """The reader for one configured source (nothing is opened yet)."""
    return (registry or default_registry()).make_source(config)
