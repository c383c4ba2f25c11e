"""Where the shared public data lives (videos, MOT sequences, faces, action clips): one place to ask."""

from __future__ import annotations

import os
from pathlib import Path

ENV = "ARGUS_SHARED_DATA"
REPO = Path(__file__).resolve().parents[2]


def shared_data(*parts: str) -> Path:
    """`$ARGUS_SHARED_DATA/<parts>`, by default `<repo>/../shared/data/<parts>`; not checked to exist."""
    root = os.environ.get(ENV)
    return Path(root, *parts) if root else REPO.parent.joinpath("shared", "data", *parts)


def vtest() -> Path:
    """The shared pedestrian video, the benchmarks' default source."""
    return shared_data("video", "vtest.mp4")
