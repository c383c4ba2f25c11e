"""`run.py bench serve`: the cost of the web UI, pipeline FPS with 0, 1 and 4 MJPEG preview clients, alternating.

    python run.py bench serve [--source VIDEO] [--seconds 20] [--rounds 3]

One `run.py serve` app (uvicorn in a thread, the real HTTP path) runs the default pose + track
stages on a looping, unpaced copy of the video (the pipeline runs as fast as it can). Phases
alternate the number of preview clients (0, 1, 4, then 4, 1, 0, ...) on the same warm pipeline;
each phase lets the clients connect, waits `--settle` seconds, then counts frames for `--seconds`.
Prints the median FPS per client count and its ratio to no client. Run it on a quiet machine.
"""

from __future__ import annotations

import socket
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ServeApp = Callable[[str, float, threading.Event], tuple[Any, Any, Any]]
"""(config YAML, preview FPS cap, closing event) -> (started serve Controller, PreviewHub, ASGI app).
The command line passes the real `run.py serve` parts (benchmarks never import cli)."""

CONFIG = """sources:
  - {{id: cam, uri: "{video}", loop: true}}
stages:
  - {{type: pose, model: yolo11n-pose, score_min: 0.25}}
  - {{type: track, tracker: argus}}
sinks: []
output_dir: "{out}"
runner: {{progress: false}}
"""


class _Client(threading.Thread):
    """Reads one MJPEG preview until told to stop; counts the JPEG parts received."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.parts, self.stop = url, 0, threading.Event()

    def run(self) -> None:
        import httpx

        with httpx.stream("GET", self.url, timeout=30) as response:
            for chunk in response.iter_bytes():
                self.parts += chunk.count(b"--argusframe")
                if self.stop.is_set():
                    return


def bench_serve(video: Path, serve_app: ServeApp, *, seconds: float = 20.0, settle: float = 3.0, rounds: int = 3,
                clients: tuple[int, ...] = (0, 1, 4), preview_fps: float = 5.0, out: Path = Path("out/bench-serve"),
                ) -> dict[str, Any]:
    """Run the phases (see module docstring) on the app `serve_app` builds; FPS per client count and ratios."""
    import uvicorn

    closing = threading.Event()
    controller, hub, app = serve_app(CONFIG.format(video=video.resolve(), out=out), preview_fps, closing)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    stats = controller.pipeline.run_stats
    fps: dict[int, list[float]] = {n: [] for n in clients}
    received: dict[int, list[float]] = {n: [] for n in clients}
    try:
        time.sleep(settle)  # model warm-up
        for r in range(rounds):
            for n in clients if r % 2 == 0 else tuple(reversed(clients)):
                readers = [_Client(f"http://127.0.0.1:{port}/api/sources/cam/preview.mjpg") for _ in range(n)]
                for reader in readers:
                    reader.start()
                time.sleep(settle)
                frames0, parts0, t0 = stats.frames, sum(c.parts for c in readers), time.perf_counter()
                time.sleep(seconds)
                elapsed = time.perf_counter() - t0
                fps[n].append((stats.frames - frames0) / elapsed)
                if n:
                    received[n].append((sum(c.parts for c in readers) - parts0) / elapsed / n)
                for reader in readers:
                    reader.stop.set()
                for reader in readers:
                    reader.join(5)
                print(f"round {r + 1}: {n} preview client(s): {fps[n][-1]:.2f} FPS", file=sys.stderr, flush=True)
    finally:
        closing.set()
        server.should_exit = True
        thread.join(10)
        hub.close()
        controller.stop()
    base = statistics.median(fps[clients[0]])
    return {
        "video": str(video), "seconds_per_phase": seconds, "rounds": rounds, "preview_fps_cap": preview_fps,
        "fps": {str(n): round(statistics.median(v), 2) for n, v in fps.items()},
        "fps_runs": {str(n): [round(x, 2) for x in v] for n, v in fps.items()},
        "ratio_to_no_client": {str(n): round(statistics.median(v) / base, 3) for n, v in fps.items()},
        "preview_fps_per_client": {str(n): round(statistics.median(v), 2) for n, v in received.items() if v},
    }

