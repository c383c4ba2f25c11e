"""The FastAPI app of `run.py serve`: the editor page, the control API, previews, events, metrics.

Every JSON body is read through `safety` (size, UTF-8, JSON object, YAML limits) before anything
else sees it; every change goes through the `Controller` (validate -> `Pipeline.apply`).
"""

from __future__ import annotations

import asyncio
import gzip
import json
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from argus.cli.serve.clips_api import add_clip_routes
from argus.cli.serve.controller import ApplyRefused, Controller
from argus.cli.serve.live import LiveHub
from argus.cli.serve.live_api import add_live_routes
from argus.cli.serve.preview import PreviewHub
from argus.cli.serve.safety import MAX_BODY, InputError, check_yaml_text, decode_json_body
from argus.cli.serve.schema import config_schema
from argus.cli.serve.security import SecurityMiddleware
from argus.cli.serve.zones_yaml import check_shapes, read_shapes, set_shapes_text

STATIC = Path(__file__).resolve().parent / "static"
BOUNDARY = "argusframe"
MAX_STREAMS = 32


async def read_json(request: Request) -> dict[str, Any]:
    """The request's JSON object, read at most MAX_BODY + 1 bytes (InputError otherwise)."""
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
        raise InputError(413, f"request body is larger than {MAX_BODY} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise InputError(413, f"request body is larger than {MAX_BODY} bytes")
    return decode_json_body(bytes(body))


def create_app(controller: Controller, hub: PreviewHub | None = None, token: str | None = None,
               allowed_hosts: set[str] | None = None, closing: threading.Event | None = None,
               live: LiveHub | None = None) -> FastAPI:
    """The app around `controller`; `closing` set by the server on shutdown ends open streams."""
    hub = hub or PreviewHub()
    live = live or LiveHub()
    closing = closing or threading.Event()
    for feed in (hub, live):
        if controller.pipeline is not None:
            feed.attach(controller.pipeline)
        controller.on_pipeline.append(feed.attach)
    app = FastAPI(title="Argus", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.controller, app.state.hub, app.state.live, app.state.closing = controller, hub, live, closing
    app.state.own_metrics = None
    app.add_middleware(SecurityMiddleware, token=token, allowed_hosts=allowed_hosts)
    bundle: list[bytes] = []

    @app.get("/static/editor.bundle.js", include_in_schema=False)
    async def editor_bundle(request: Request) -> Response:
        """The 1.2 MB CodeMirror bundle, gzipped once (330 kB) for browsers that accept it."""
        if "gzip" not in request.headers.get("accept-encoding", ""):
            return FileResponse(STATIC / "editor.bundle.js", media_type="text/javascript")
        if not bundle:
            bundle.append(gzip.compress((STATIC / "editor.bundle.js").read_bytes(), 6))
        return Response(bundle[0], media_type="text/javascript", headers={"Content-Encoding": "gzip",
                                                                           "Vary": "Accept-Encoding"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.exception_handler(InputError)
    async def input_error(_request: Request, exc: InputError) -> JSONResponse:
        return JSONResponse({"detail": exc.reason}, status_code=exc.status)

    @app.exception_handler(ApplyRefused)
    async def refused(_request: Request, exc: ApplyRefused) -> JSONResponse:
        return JSONResponse({"errors": exc.errors}, status_code=exc.status)

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    # ------------------------------------------------------------------ config
    @app.get("/api/config")
    async def get_config() -> dict[str, Any]:
        return {"version": controller.version, "yaml": controller.yaml, "path": str(controller.path or ""),
                "errors": controller.startup_errors}

    @app.put("/api/config")
    async def put_config(request: Request) -> dict[str, Any]:
        body = await read_json(request)
        text = check_yaml_text(body.get("yaml"))
        return await run_in_threadpool(controller.apply_text, text, bool(body.get("save", False)))

    @app.post("/api/config/check")
    async def check_config(request: Request) -> dict[str, Any]:
        text = check_yaml_text((await read_json(request)).get("yaml"))
        result = await run_in_threadpool(controller.check, text)
        return {**result, "shapes": read_shapes(text)}  # the zones stages' lines and zones, drawn on previews

    @app.post("/api/config/zones")
    async def zones_text(request: Request) -> dict[str, Any]:
        body = await read_json(request)
        text = check_yaml_text(body.get("yaml"))
        lines, zones = check_shapes("lines", body.get("lines")), check_shapes("zones", body.get("zones"))
        source = body.get("source")
        if source is not None and not isinstance(source, str):
            raise InputError(422, "'source' must be a source id")
        return {"yaml": await run_in_threadpool(set_shapes_text, text, lines, zones, source)}

    @app.get("/api/config/history")
    async def history() -> dict[str, Any]:
        return {"version": controller.version, "versions": [v.to_json() for v in controller.history]}

    @app.get("/api/config/history/{version}")
    async def history_entry(version: int) -> dict[str, Any]:
        for entry in controller.history:
            if entry.version == version:
                return {**entry.to_json(), "yaml": entry.yaml}
        raise InputError(404, f"no applied version {version}")

    @app.post("/api/config/revert/{version}")
    async def revert(version: int) -> dict[str, Any]:
        return await run_in_threadpool(controller.revert, version)

    @app.get("/api/schema")
    async def schema(inline: bool = False) -> dict[str, Any]:
        return config_schema(inline)

    # ------------------------------------------------------------------ observing
    @app.get("/api/stats")
    async def stats() -> dict[str, Any]:
        pipeline = controller.pipeline
        base: dict[str, Any] = {"state": "stopped", "version": 0, "sources": {}, "stages": {}}
        if pipeline is not None:
            base = controller.redact.deep(pipeline.stats())
        return {**base, "version": controller.version, "errors": controller.startup_errors,
                "source_ids": controller.source_ids(), "preview": hub.stats(), "live": live.stats()}

    streams = _StreamCount()

    @app.get("/api/events")
    async def events() -> StreamingResponse:
        return StreamingResponse(streams.hold(_event_stream(controller, closing)), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    @app.get("/metrics")
    async def metrics() -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        pipeline = controller.pipeline
        if pipeline is None:
            return Response("", media_type=CONTENT_TYPE_LATEST)
        registry = pipeline.metrics.registry if pipeline.metrics is not None else None
        if registry is None:  # no `metrics:` block: the counters read at scrape time (no stage histogram)
            from pipeline.metrics import Metrics

            if app.state.own_metrics is None or app.state.own_metrics[0] is not pipeline:
                app.state.own_metrics = (pipeline, Metrics(pipeline))
            registry = app.state.own_metrics[1].registry
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    # ------------------------------------------------------------------ sources
    @app.get("/api/sources")
    async def sources() -> dict[str, Any]:
        pipeline = controller.pipeline
        if pipeline is None:
            return {"sources": []}
        live = pipeline.stats()["sources"]
        out = []
        for source in pipeline.config.sources:
            found = {k: v for k, v in live.items() if k == source.id or k.startswith(f"{source.id}/")}
            out.append({"id": source.id, "kind": source.kind, "streams": found})
        return controller.redact.deep({"sources": out})

    @app.post("/api/sources")
    async def add_source(request: Request) -> dict[str, Any]:
        entry = await read_json(request)
        for key in ("id", "uri"):
            if not isinstance(entry.get(key), str) or not entry[key]:
                raise InputError(422, f"a source needs '{key}' (a non-empty string)")
        if entry["id"] in controller.source_ids():
            raise InputError(409, f"source id '{entry['id']}' is already used")
        return await run_in_threadpool(controller.add_source, entry)

    @app.delete("/api/sources/{source_id}")
    async def remove_source(source_id: str) -> dict[str, Any]:
        return await run_in_threadpool(controller.remove_source, source_id)

    @app.get("/api/sources/{source_id}/preview.mjpg")
    async def preview(source_id: str) -> StreamingResponse:
        if source_id not in controller.source_ids():
            raise InputError(404, f"no source with id '{source_id}'")
        return StreamingResponse(streams.hold(_mjpeg(hub, source_id, closing)),
                                 media_type=f"multipart/x-mixed-replace; boundary={BOUNDARY}",
                                 headers={"Cache-Control": "no-store"})

    @app.get("/api/sources/{source_id}/preview.jpg")
    async def snapshot(source_id: str) -> Response:
        frame = hub.latest(source_id)
        if frame is None:
            raise InputError(404, f"no preview of '{source_id}' yet (open preview.mjpg)")
        return Response(frame.jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    add_live_routes(app, controller, live, streams.hold, closing)
    add_clip_routes(app, controller)
    return app


class _StreamCount:
    """At most MAX_STREAMS open previews, live views and event streams together (429 beyond)."""

    def __init__(self) -> None:
        self.open = 0

    def hold(self, stream: AsyncIterator[Any]) -> AsyncIterator[Any]:
        if self.open >= MAX_STREAMS:
            raise InputError(429, f"too many open preview/live/event streams (at most {MAX_STREAMS})")
        return self._counted(stream)

    async def _counted(self, stream: AsyncIterator[Any]) -> AsyncIterator[Any]:
        self.open += 1  # counted once the response streams (an unsent response never decrements)
        try:
            async for item in stream:
                yield item
        finally:
            self.open -= 1


async def _mjpeg(hub: PreviewHub, source_id: str, closing: threading.Event) -> AsyncIterator[bytes]:
    """multipart/x-mixed-replace JPEG parts, one per newly encoded preview frame."""
    hub.watch(source_id)
    try:
        seq = 0
        while not closing.is_set():
            frame = hub.latest(source_id)
            if frame is None or frame.seq == seq:
                await asyncio.sleep(0.02)
                continue
            seq = frame.seq
            yield (f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(frame.jpeg)}\r\n\r\n"
                   ).encode() + frame.jpeg + b"\r\n"
    finally:
        hub.unwatch(source_id)


async def _event_stream(controller: Controller, closing: threading.Event) -> AsyncIterator[str]:
    """Server-sent events: every pipeline event as `data: {json}`; a comment every 15 s keeps it open."""
    pipeline = controller.pipeline
    subscription = pipeline.subscribe_events(maxlen=500) if pipeline is not None else None
    idle = 0.0
    try:
        yield ": connected\n\n"  # subscribed already: a client that reads this misses no later event
        while not closing.is_set():
            if controller.pipeline is not pipeline:
                if subscription is not None and pipeline is not None:
                    pipeline.unsubscribe(subscription)
                pipeline = controller.pipeline
                subscription = pipeline.subscribe_events(maxlen=500) if pipeline is not None else None
            sent = False
            while subscription is not None:
                event = subscription.get(timeout=0)
                if event is None:
                    break
                yield f"event: {event.type}\ndata: {controller.redact(json.dumps(event.to_json()))}\n\n"
                sent = True
            idle = 0.0 if sent else idle + 0.1
            if idle >= 15.0:
                idle = 0.0
                yield ": keep-alive\n\n"
            await asyncio.sleep(0.1)
    finally:
        if subscription is not None and pipeline is not None:
            pipeline.unsubscribe(subscription)
