"""`run.py serve [CONFIG]`: run a pipeline with a web editor, live preview and a control API.

The pipeline keeps running when its sources end (sources can be added later) until Ctrl-C or
SIGTERM, which stop the web server within `--grace` seconds (open previews and event streams are
closed) and then the pipeline in order, so every output file is complete.
Needs the `web` extra (fastapi, uvicorn); nothing here is imported by `run.py run`.
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import signal
import socket
import sys
import threading
from pathlib import Path

from argus.cli.serve.security import is_loopback
from pipeline.errors import ArgusError

log = logging.getLogger("argus")


def add_serve_parser(verbs: argparse._SubParsersAction) -> None:
    """Register the `serve` verb on the CLI's sub-parsers."""
    serve = verbs.add_parser(
        "serve", help="run a pipeline with a web config editor, live preview and control API",
        description="Start the pipeline and a web app: edit the config with validation as you type, apply "
        "it with hot reload, watch previews, stats and events; a JSON API for scripts. Starts even when "
        "CONFIG is invalid (the pipeline waits stopped, the editor shows the errors).")
    serve.add_argument("config", type=Path, nargs="?", default=None,
                       help="pipeline YAML that Save writes back (default: the built-in demo pipeline)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; any "
                       "other address requires a token: $ARGUS_TOKEN, else one is generated and printed)")
    serve.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    serve.add_argument("--preview-fps", type=float, default=5.0, help="highest preview frame rate per source")
    serve.add_argument("--live-fps", type=float, default=10.0, help="highest frame rate of the live view "
                       "(H.264, encoded only while watched)")
    serve.add_argument("--grace", type=float, default=2.0, help="seconds open connections get on shutdown")
    serve.add_argument("--ray", metavar="auto|ADDRESS|local", help="run the streams on Ray actors ('local': a "
                       "private Ray here; 'auto' or HOST:PORT: a cluster); previews then show no pixels")
    serve.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    """Start the pipeline (or wait stopped on an invalid config) and serve until a signal."""
    try:
        import uvicorn

        from argus.cli.serve.app import create_app
        from argus.cli.serve.controller import Controller
        from argus.cli.serve.live import LiveHub
        from argus.cli.serve.preview import PreviewHub
    except ImportError as exc:
        raise ArgusError(f"serve needs the web extra: pip install 'argus-pipeline[web]' ({exc})") from None
    token = None
    if not is_loopback(args.host):
        token = os.environ.get("ARGUS_TOKEN") or secrets.token_urlsafe(24)
    factory = None
    if args.ray:
        from pipeline.ray.cluster import require_ray
        from pipeline.ray.driver import RayPipeline

        require_ray()
        factory = lambda config: RayPipeline(config, args.ray, keep_alive=True)  # noqa: E731
    controller = Controller(args.config, factory=factory)
    try:
        controller.start()  # Ctrl-C while the model loads: close what started, then exit 130
    except KeyboardInterrupt:
        controller.stop()
        raise
    closing = threading.Event()
    allowed = {"127.0.0.1", "localhost", "::1", "[::1]"} if is_loopback(args.host) else None
    app = create_app(controller, PreviewHub(max_fps=args.preview_fps), token=token, allowed_hosts=allowed,
                     closing=closing, live=LiveHub(max_fps=args.live_fps))
    config = uvicorn.Config(app, host=args.host, port=args.port, log_level="warning",
                            timeout_graceful_shutdown=max(0.1, args.grace), access_log=False)

    shown = "localhost" if is_loopback(args.host) else args.host
    url = f"http://{shown}:{args.port}/" + (f"?token={token}" if token and "ARGUS_TOKEN" not in os.environ else "")
    state = "running" if controller.pipeline is not None else "stopped: the config is invalid, fix it in the editor"
    if token and "ARGUS_TOKEN" in os.environ:
        state += "; the token is $ARGUS_TOKEN: open the URL with ?token=... once"

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if self.started:  # listening: the URL works from now on
                print(f"Argus serve: {url}  (pipeline {state}; Ctrl-C to stop)", flush=True)

        def handle_exit(self, sig: int, frame: object) -> None:
            closing.set()  # open MJPEG / SSE responses end now instead of at the grace timeout
            super().handle_exit(sig, frame)

    for sig in (signal.SIGINT, signal.SIGTERM):  # uvicorn re-raises the signal after it stops: ignore it
        signal.signal(sig, lambda *_: None)
    try:
        Server(config).run()
    finally:
        closing.set()
        app.state.hub.close()
        app.state.live.close()
        code = controller.stop()
    print("serve: stopped", file=sys.stderr, flush=True)
    return code or 0
