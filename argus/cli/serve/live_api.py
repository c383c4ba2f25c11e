"""The live view's routes: fMP4 over HTTP for Media Source Extensions, and HLS for other players.

- `GET /live/{source}/stream.mp4`: the init segment, then each frame's fragment as it is encoded (from
  the latest keyframe on), while the connection stays open. Headers: `X-Argus-Codec` (for
  `MediaSource.addSourceBuffer`) and `X-Argus-Epoch` (wall time of presentation time 0).
- `GET /live/{source}/index.m3u8`: HLS (a multivariant playlist naming `media.m3u8`: fMP4 segments of
  one GOP each, a sliding window; `init{G}.mp4` and `{G}-{N}.m4s` are its files). Each request keeps
  the encoder running for `LEASE_S` more seconds.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import FastAPI
from fastapi.responses import Response, StreamingResponse

from argus.cli.serve.controller import Controller
from argus.cli.serve.live import LiveHub, LiveStream
from argus.cli.serve.safety import InputError

LEASE_S = 10.0
FIRST_WAIT_S = 10.0  # how long a request waits for a stream (or its first segment) to exist
HLS_TYPE = "application/vnd.apple.mpegurl"
MULTIVARIANT = "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-STREAM-INF:BANDWIDTH=800000\nmedia.m3u8\n"


def add_live_routes(app: FastAPI, controller: Controller, live: LiveHub, hold: Callable[[Any], Any],
                    closing: threading.Event) -> None:
    """Register the routes above; `hold` counts open streams (the app's limit)."""

    def known(source_id: str) -> None:
        if source_id not in controller.source_ids():
            raise InputError(404, f"no source with id '{source_id}'")

    async def wait_for(source_id: str, ready: Callable[[LiveStream], bool]) -> LiveStream:
        for _ in range(int(FIRST_WAIT_S / 0.05)):
            live.touch(source_id, 1.0)  # encoding while this request waits
            stream = live.current(source_id)
            if stream is not None and ready(stream):
                return stream
            if closing.is_set():
                break
            await asyncio.sleep(0.05)
        raise InputError(503, f"no live frames of '{source_id}' (is the source running?)")

    @app.get("/live/{source_id}/stream.mp4")
    async def live_mp4(source_id: str) -> StreamingResponse:
        known(source_id)
        body = hold(_fragments(live, source_id, closing))  # raises 429 before anything is watched
        stream = await wait_for(source_id, lambda s: True)
        return StreamingResponse(body, media_type="video/mp4", headers={
            "Cache-Control": "no-store", "X-Argus-Codec": stream.codec, "X-Argus-Epoch": f"{stream.epoch:.3f}"})

    @app.get("/live/{source_id}/index.m3u8")
    async def live_index(source_id: str) -> Response:
        """The multivariant playlist, answered at once: it starts the encoder, which media.m3u8 then
        waits for (Chromium's native HLS failed in some cold starts when its first playlist took seconds)."""
        known(source_id)
        live.touch(source_id, LEASE_S)
        return Response(MULTIVARIANT, media_type=HLS_TYPE, headers={"Cache-Control": "no-store"})

    @app.get("/live/{source_id}/media.m3u8")
    async def live_playlist(source_id: str) -> Response:
        known(source_id)
        stream = await wait_for(source_id, lambda s: len(s.segments) >= min(3, live.window))  # 3 s from a start
        live.touch(source_id, LEASE_S)
        return Response(stream.playlist(), media_type=HLS_TYPE, headers={"Cache-Control": "no-store"})

    @app.get("/live/{source_id}/init{generation}.mp4")
    async def live_init(source_id: str, generation: int) -> Response:
        stream = _stream_of(live, source_id, generation)
        return Response(stream.init, media_type="video/mp4", headers={"Cache-Control": "max-age=60"})

    @app.get("/live/{source_id}/{generation}-{seq}.m4s")
    async def live_segment(source_id: str, generation: int, seq: int) -> Response:
        segment = _stream_of(live, source_id, generation).segment(seq)
        if segment is None:
            raise InputError(404, f"segment {seq} left the live window")
        return Response(segment.data, media_type="video/iso.segment", headers={"Cache-Control": "max-age=60"})


def _stream_of(live: LiveHub, source_id: str, generation: int) -> LiveStream:
    stream = live.streams.get(source_id)
    if stream is None or stream.generation != generation:
        raise InputError(404, f"no live stream {generation} of '{source_id}'")
    live.touch(source_id, LEASE_S)  # a player fetching segments is still watching
    return stream


async def _fragments(live: LiveHub, source_id: str, closing: threading.Event) -> AsyncIterator[bytes]:
    """The init segment and then every new chunk of the source's current stream; ends when that stream
    ends (a new size, a restart): the player reconnects."""
    live.watch(source_id)
    try:
        stream = live.current(source_id)
        if stream is None:
            return
        yield stream.init
        seq: int | None = None
        while not closing.is_set() and not stream.ended and live.streams.get(source_id) is stream:
            seq, chunks = stream.chunks_after(seq)
            if chunks:
                yield b"".join(chunks)
            else:
                await asyncio.sleep(0.01)
    finally:
        live.unwatch(source_id)
