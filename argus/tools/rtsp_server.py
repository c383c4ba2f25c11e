"""A real RTSP server for tests and benchmarks: GStreamer's rtsp-server serving an H.264 MP4 without re-encoding.

Two halves in one file:
- run as a script with Debian's python3 (it has the GObject bindings, the venv does not):
  `/usr/bin/python3 argus/tools/rtsp_server.py VIDEO PORT [MOUNT]` prints `ready` once it listens on
  127.0.0.1:PORT; the stream ends at the end of the file (loop the file into a longer one with
  `looped_video` for long runs);
- imported from the venv: `RtspServer` starts and kills such a process, `rtsp_server_missing` says
  what to install when it cannot run, `looped_video` and `free_port` help set one up.

The module imports only the standard library at its top, so both interpreters can load it.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

SYSTEM_PYTHON = "/usr/bin/python3"
SCRIPT = Path(__file__).resolve()
INSTALL_HINT = ("apt-get install gir1.2-gst-rtsp-server-1.0 gstreamer1.0-rtsp python3-gi "
                "gstreamer1.0-plugins-good gstreamer1.0-plugins-bad")


def free_port() -> int:
    """A TCP port nothing listens on right now (127.0.0.1)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rtsp_server_missing() -> str | None:
    """None when Debian's GStreamer RTSP server and ffmpeg are installed, else what to install."""
    probe = subprocess.run([SYSTEM_PYTHON, "-c", "import gi; gi.require_version('GstRtspServer', '1.0'); "
                            "from gi.repository import GstRtspServer"], capture_output=True, check=False) \
        if Path(SYSTEM_PYTHON).exists() else None
    if probe is None or probe.returncode != 0:
        return f"GStreamer RTSP server not installed ({INSTALL_HINT})"
    if shutil.which("ffmpeg") is None:
        return "ffmpeg not installed (apt-get install ffmpeg)"
    return None


def looped_video(source: Path, target: Path, loops: int) -> Path:
    """`source` repeated `loops` times without re-encoding, video only (an RTSP stream that lasts)."""
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-stream_loop", str(loops - 1), "-i", str(source), "-an",
                    "-c", "copy", str(target)], check=True)
    return target


class RtspServer:
    """One GStreamer RTSP server process on 127.0.0.1:`port`, serving `video` (H.264 MP4) at /cam."""

    def __init__(self, video: Path, port: int | None = None) -> None:
        self.video, self.port = video, port or free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/cam"

    def start(self, timeout_s: float = 30.0) -> RtspServer:
        deadline = time.monotonic() + timeout_s
        while True:
            self.process = subprocess.Popen([SYSTEM_PYTHON, str(SCRIPT), str(self.video), str(self.port)],
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


def main() -> None:
    """The server itself (Debian's python3): serve VIDEO on 127.0.0.1:PORT at MOUNT (default /cam)."""
    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtspServer

    video, port = sys.argv[1], sys.argv[2]
    mount = sys.argv[3] if len(sys.argv) > 3 else "/cam"
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(f"( filesrc location={video} ! qtdemux ! h264parse config-interval=-1 "
                       f"! rtph264pay name=pay0 pt=96 )")
    factory.set_shared(True)
    server.get_mount_points().add_factory(mount, factory)
    if server.attach(None) == 0:
        sys.exit(f"cannot listen on 127.0.0.1:{port}")
    print("ready", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
