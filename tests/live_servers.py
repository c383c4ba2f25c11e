"""Real servers started by tests: GStreamer's RTSP server (Debian python3 + gi, `argus/tools/rtsp_server.py`)."""

from __future__ import annotations

import pytest

from argus.tools.rtsp_server import RtspServer, free_port, looped_video, rtsp_server_missing

__all__ = ["RtspServer", "free_port", "looped_video", "require_rtsp_server"]


def require_rtsp_server() -> None:
    """Skip unless Debian's GStreamer RTSP server and ffmpeg are installed (see README setup)."""
    missing = rtsp_server_missing()
    if missing:
        pytest.skip(missing)
