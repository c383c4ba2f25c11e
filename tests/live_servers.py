"""Real servers started by tests: GStreamer's RTSP server (Debian python3 + gi)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

SYSTEM_PYTHON = "/usr/bin/python3"
RTSP_SCRIPT = Path(__file__).parent / "servers" / "rtsp_server.py"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def require_rtsp_server() -> None:
    """Skip unless Debian's GStreamer RTSP server and ffmpeg are installed (see README setup)."""
    probe = subprocess.run([SYSTEM_PYTHON, "-c", "import gi; gi.require_version('GstRtspServer', '1.0'); "
                            "from gi.repository import GstRtspServer"], capture_output=True, check=False) \
        if Path(SYSTEM_PYTHON).exists() else None
    if probe is None or probe.returncode != 0:
        pytest.skip("GStreamer RTSP server not installed (apt-get install gir1.2-gst-rtsp-server-1.0 "
                    "gstreamer1.0-rtsp python3-gi gstreamer1.0-plugins-good gstreamer1.0-plugins-bad)")
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg not installed (apt-get install ffmpeg)")


def looped_video(source: Path, target: Path, loops: int) -> Path:
    """`source` repeated `loops` times without re-encoding (an RTSP stream that lasts)."""
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-stream_loop", str(loops - 1), "-i", str(source), "-an",
                    "-c", "copy", str(target)], check=True)
    return target


class RtspServer:
    """One GStreamer RTSP server process on 127.0.0.1:`port`, serving `video` at /cam."""

    def __init__(self, video: Path, port: int | None = None) -> None:
        self.video, self.port = video, port or free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/cam"

    def start(self, timeout_s: float = 30.0) -> RtspServer:
        deadline = time.monotonic() + timeout_s
        while True:
            self.process = subprocess.Popen([SYSTEM_PYTHON, str(RTSP_SCRIPT), str(self.video), str(self.port)],
                                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            assert self.process.stdout is not None
            if self.process.stdout.readline().strip() == "ready":
                return self
            self.process.wait()
            if time.monotonic() > deadline:  # the port may still be held right after a kill
                raise RuntimeError(f"RTSP server did not start: {self.process.stderr.read()}")
            time.sleep(0.2)

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None
