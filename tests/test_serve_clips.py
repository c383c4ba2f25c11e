"""The clips API of `run.py serve` on real clip files (fragmented H.264 written by PyAV) in the clips
sink's index format: listing and filters, byte-exact range requests, thumbnails, delete, hostile ids
and index paths, and the token/Origin rules, over real HTTP (uvicorn in a thread, as in test_serve_api)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from argus.cli.serve.clips import clip_dirs, read_rows
from tests.clip_files import append_row, make_clip
from tests.conftest import write_video
from tests.test_serve_api import Served

DAY = 86400.0
T0 = 1.8e9  # 2027-01-15T08:00:00Z

CONFIG = """sources:
  - {{id: cam1, uri: "{video}", loop: true}}
stages: []
sinks:
  - {{type: events}}
  - type: clips
    dir: saved
    trigger: [{{event: track_started}}]
    retain: {{days: 36500}}
output_dir: "{out}"
runner: {{progress: false}}
"""


def _serve(tmp_path: Path, token: str | None = None) -> Served:
    """The app on a running pipeline whose clips sink owns out/saved, which then gets four clips (one
    still open, one without a thumbnail), written after the sink started as a sink would."""
    video = write_video(tmp_path / "cam1.mp4", 10)
    served = Served(None, CONFIG.format(video=video, out=tmp_path / "out"), token=token)
    assert served.controller.pipeline is not None, served.controller.startup_errors
    folder = tmp_path / "out" / "saved"
    make_clip(folder, "a1", "cam1", "zone_entered", T0)
    make_clip(folder, "b1", "cam2", "action_started", T0 + DAY)
    make_clip(folder, "a2", "cam1", "action_started", T0 + 2 * DAY, thumbnail=False)
    make_clip(folder, "open1", "cam1", "zone_entered", T0 + 3 * DAY, state="open")
    return served


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path / "out" / "saved"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[httpx.Client]:
    served = _serve(tmp_path)
    yield served.client
    served.close()


def _ids(client: httpx.Client, **params: str) -> list[str]:
    response = client.get("/api/clips", params=params)
    assert response.status_code == 200, response.text
    return [row["id"] for row in response.json()["clips"]]


def test_list_newest_first_with_urls_and_filters(client: httpx.Client, folder: Path) -> None:
    body = client.get("/api/clips").json()
    assert [row["id"] for row in body["clips"]] == ["open1", "a2", "b1", "a1"]
    assert body["total"] == 4 and body["dirs"] == [str(folder)]
    first = body["clips"][-1]
    assert first["mp4"] == "/api/clips/a1.mp4" and first["jpg"] == "/api/clips/a1.jpg"
    assert first["source"] == "cam1" and first["state"] == "closed" and first["track_ids"] == [1]
    assert body["clips"][1]["jpg"] is None  # a2 has no thumbnail
    assert _ids(client, source="cam1") == ["open1", "a2", "a1"]
    assert _ids(client, event="action_started") == ["a2", "b1"]
    assert _ids(client, source="cam1", event="zone_entered") == ["open1", "a1"]
    assert _ids(client, since=str(T0 + DAY)) == ["open1", "a2", "b1"]  # epoch seconds
    assert _ids(client, until="2027-01-16T08:00:00Z") == ["b1", "a1"]  # ISO 8601, inclusive
    assert _ids(client, since="2027-01-16T00:00:00+00:00", until=str(T0 + 2 * DAY)) == ["a2", "b1"]
    assert _ids(client, limit="1") == ["open1"]
    assert _ids(client, source="nobody") == []
    bad = client.get("/api/clips", params={"since": "yesterday"})
    assert bad.status_code == 422 and "since" in bad.json()["detail"]


def test_last_row_wins_and_a_torn_line_is_skipped(client: httpx.Client, folder: Path) -> None:
    row = next(r for r in read_rows(folder) if r["id"] == "a1")
    append_row(folder, {**row, "end_pts_s": 99.0})
    with (folder / "clips.jsonl").open("a") as index:
        index.write('{"id": "torn", "sou')  # a crash mid-write
    rows = client.get("/api/clips", params={"source": "cam1"}).json()["clips"]
    assert [r["id"] for r in rows] == ["open1", "a2", "a1"]
    assert rows[-1]["end_pts_s"] == 99.0


def test_mp4_whole_and_byte_ranges(client: httpx.Client, folder: Path) -> None:
    data = (folder / "cam1" / "a1.mp4").read_bytes()
    size = len(data)
    whole = client.get("/api/clips/a1.mp4")
    assert whole.status_code == 200 and whole.content == data
    assert whole.headers["content-type"] == "video/mp4" and whole.headers["accept-ranges"] == "bytes"
    part = client.get("/api/clips/a1.mp4", headers={"Range": "bytes=100-1099"})
    assert part.status_code == 206
    assert part.content == data[100:1100]
    assert part.headers["content-range"] == f"bytes 100-1099/{size}"
    assert part.headers["content-length"] == "1000"
    tail = client.get("/api/clips/a1.mp4", headers={"Range": "bytes=-64"})
    assert tail.status_code == 206 and tail.content == data[-64:]
    open_end = client.get("/api/clips/a1.mp4", headers={"Range": f"bytes={size - 10}-"})
    assert open_end.status_code == 206 and open_end.content == data[-10:]
    beyond = client.get("/api/clips/a1.mp4", headers={"Range": f"bytes={size}-{size + 100}"})
    assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{size}"
    assert client.get("/api/clips/a1.mp4", headers={"Range": "bytes=500-100"}).status_code == 400
    growing = client.get("/api/clips/open1.mp4")  # being written: served as it is, never cached
    assert growing.status_code == 200 and growing.headers["cache-control"] == "no-store"


def test_thumbnail(client: httpx.Client, folder: Path) -> None:
    jpg = client.get("/api/clips/a1.jpg")
    assert jpg.status_code == 200 and jpg.headers["content-type"] == "image/jpeg"
    assert jpg.content == (folder / "cam1" / "a1.jpg").read_bytes() and jpg.content[:2] == b"\xff\xd8"
    assert client.get("/api/clips/a2.jpg").status_code == 404  # none written


def test_delete(client: httpx.Client, folder: Path) -> None:
    assert client.delete("/api/clips/a1").json() == {"deleted": "a1"}
    assert not (folder / "cam1" / "a1.mp4").exists() and not (folder / "cam1" / "a1.jpg").exists()
    assert "a1" not in _ids(client)
    assert client.get("/api/clips/a1.mp4").status_code == 404
    assert client.delete("/api/clips/a1").status_code == 404
    refused = client.delete("/api/clips/open1")  # the running sink holds the folder
    assert refused.status_code == 409 and "being written" in refused.json()["detail"]
    assert (folder / "cam1" / "open1.mp4").exists()
    assert client.delete("/api/clips/b1", headers={"Origin": "http://evil.example"}).status_code == 403
    assert (folder / "cam2" / "b1.mp4").exists()


def test_ids_and_index_paths_cannot_leave_the_folder(client: httpx.Client, folder: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    for clip_id, path in (("evil1", "../../secret.txt"), ("evil2", str(secret)), ("evil3", "cam1/../../../secret.txt")):
        append_row(folder, {"id": clip_id, "source": "cam1", "path": path, "thumbnail": path,
                            "state": "closed", "wall_time": "2027-01-01T00:00:00Z"})
        for suffix in (".mp4", ".jpg"):
            response = client.get(f"/api/clips/{clip_id}{suffix}")
            assert response.status_code == 404 and b"top secret" not in response.content
        refused = client.delete(f"/api/clips/{clip_id}")
        assert refused.status_code == 422 and "outside" in refused.json()["detail"]
        assert secret.exists()
    for url in ("/api/clips/..%2F..%2Fsecret.txt.mp4", "/api/clips/%2e%2e.mp4", "/api/clips/.hidden.mp4",
                "/api/clips/a1%00.mp4", "/api/clips/..%5csecret.mp4"):
        response = client.get(url)
        assert response.status_code == 404, url
        assert b"top secret" not in response.content
    assert client.delete("/api/clips/..%2Fsaved").status_code == 404


def test_token_needed_off_loopback(tmp_path: Path) -> None:
    served = _serve(tmp_path, token="s3cret-token")
    client = served.client
    try:
        assert client.get("/api/clips").status_code == 401
        assert client.get("/api/clips/a1.mp4").status_code == 401
        assert client.get("/api/clips/a1.jpg", params={"token": "wrong"}).status_code == 401
        assert client.delete("/api/clips/a1").status_code == 401
        auth = {"Authorization": "Bearer s3cret-token"}
        assert client.get("/api/clips", headers=auth).json()["total"] == 4
        part = client.get("/api/clips/a1.mp4", headers={**auth, "Range": "bytes=0-9"})
        assert part.status_code == 206 and len(part.content) == 10
        assert client.delete("/api/clips/a1", headers=auth).status_code == 200
    finally:
        served.close()


def test_clip_dirs_from_the_running_config_or_the_yaml() -> None:
    running = SimpleNamespace(output_dir="out", sinks=[SimpleNamespace(type="events"),
                                                        SimpleNamespace(type="clips", dir="alerts"),
                                                        SimpleNamespace(type="clips", dir="alerts")])
    assert clip_dirs(running) == [Path("out/alerts")]
    text = "output_dir: o\nsinks:\n  - {type: clips}\n  - {type: clips, dir: b}\n  - {type: video}\n"
    assert clip_dirs(None, text) == [Path("o/clips"), Path("o/b")]
    assert clip_dirs(None, "sinks: [") == [] and clip_dirs(None, "- a list") == []


def test_no_clips_sink_lists_nothing(tmp_path: Path) -> None:
    video = write_video(tmp_path / "v.mp4", 10)
    text = CONFIG.format(video=video, out=tmp_path / "out").split("  - type: clips")[0] + \
        f'output_dir: "{tmp_path / "out"}"\n'
    served = Served(None, text)
    try:
        assert served.controller.pipeline is not None, served.controller.startup_errors
        assert served.client.get("/api/clips").json() == {"clips": [], "total": 0, "dirs": []}
        assert served.client.get("/api/clips/a1.mp4").status_code == 404
    finally:
        served.close()
