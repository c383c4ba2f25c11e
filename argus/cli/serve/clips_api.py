"""The clips routes: list and filter, the MP4 (with HTTP range requests) and thumbnail, delete.

- `GET /api/clips?source=&event=&since=&until=&limit=`: index rows, newest first, each with `mp4` and
  `jpg` URLs; `event` is a trigger event type, `since`/`until` epoch seconds or ISO 8601 times.
- `GET /api/clips/{id}.mp4`: Starlette's FileResponse answers `Range: bytes=...` with 206 and
  `Content-Range` (416 outside the file), so `<video>` can seek.
- `GET /api/clips/{id}.jpg`, `DELETE /api/clips/{id}` (409 while the clip is being written).
The middleware's token and Origin rules apply as to every route.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from argus.cli.serve.clips import clip_dirs, delete, find_clip, read_rows, select
from argus.cli.serve.controller import Controller

MAX_LIMIT = 5000


def add_clip_routes(app: FastAPI, controller: Controller) -> None:
    """Register the routes above on `app`."""

    def folders() -> list[Path]:
        pipeline = controller.pipeline
        return clip_dirs(pipeline.config if pipeline is not None else None, controller.yaml)

    def listing(source: str | None, event: str | None, since: str | None, until: str | None,
                limit: int) -> dict[str, Any]:
        dirs = folders()
        rows = select([row for folder in dirs for row in read_rows(folder)], source, event, since, until)
        out = []
        for row in rows[:max(0, min(limit, MAX_LIMIT))]:
            url = f"/api/clips/{quote(row['id'], safe='')}"
            out.append({**row, "mp4": f"{url}.mp4", "jpg": f"{url}.jpg" if row.get("thumbnail") else None})
        return {"clips": out, "total": len(rows), "dirs": [str(d) for d in dirs]}

    @app.get("/api/clips")
    async def list_clips(source: str | None = None, event: str | None = None, since: str | None = None,
                         until: str | None = None, limit: int = 500) -> dict[str, Any]:
        result = await run_in_threadpool(listing, source, event, since, until, limit)
        return controller.redact.deep(result)

    @app.get("/api/clips/{clip_id}.mp4")
    async def clip_mp4(clip_id: str) -> FileResponse:
        clip = await run_in_threadpool(find_clip, folders(), clip_id)
        growing = clip.row.get("state") == "open"
        return FileResponse(clip.file("path"), media_type="video/mp4",
                            headers={"Cache-Control": "no-store" if growing else "no-cache"})

    @app.get("/api/clips/{clip_id}.jpg")
    async def clip_jpg(clip_id: str) -> FileResponse:
        clip = await run_in_threadpool(find_clip, folders(), clip_id)
        return FileResponse(clip.file("thumbnail"), media_type="image/jpeg", headers={"Cache-Control": "no-cache"})

    @app.delete("/api/clips/{clip_id}")
    async def delete_clip(clip_id: str) -> dict[str, Any]:
        clip = await run_in_threadpool(find_clip, folders(), clip_id)
        await run_in_threadpool(delete, clip)
        return {"deleted": clip_id}
