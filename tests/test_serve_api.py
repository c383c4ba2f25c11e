"""`run.py serve`'s control API over real HTTP (uvicorn in a thread) on a running pipeline.

The pipeline has two looping sources and no model stage (fast); what needs the model is in
test_serve_e2e.py. Every endpoint, 422 line numbers, token and Origin checks, hostile inputs.
Nothing here measures speed: each step waits (generously) for what it needs to see.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")

from argus.cli.serve.app import create_app  # noqa: E402
from argus.cli.serve.controller import Controller  # noqa: E402
from argus.cli.serve.preview import PreviewHub  # noqa: E402
from tests.conftest import write_video  # noqa: E402
from tests.live_servers import free_port  # noqa: E402
from tests.waiting import wait_event, wait_until  # noqa: E402


class Served:
    """A controller + app served by uvicorn in a thread; `client` talks to it."""

    def __init__(self, path: Path | None, text: str | None = None, token: str | None = None,
                 allowed_hosts: set[str] | None = None, preview_fps: float = 10) -> None:
        self.controller = Controller(path, text)
        self.controller.start()
        self.closing = threading.Event()
        self.hub = PreviewHub(max_fps=preview_fps)
        self.app = create_app(self.controller, self.hub, token=token, allowed_hosts=allowed_hosts,
                              closing=self.closing)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning",
                                timeout_graceful_shutdown=1)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        wait_until(lambda: self.server.started, what="uvicorn to start")
        self.client = httpx.Client(base_url=self.url, timeout=30)

    def close(self) -> None:
        self.closing.set()
        self.client.close()
        self.server.should_exit = True
        self.thread.join(10)
        self.hub.close()
        self.controller.stop()


def pipeline_yaml(tmp_path: Path, ids: tuple[str, ...] = ("a", "b"), comment: bool = True) -> str:
    lines = ["# two looping sources" if comment else "", "sources:"]
    for source_id in ids:
        video = tmp_path / f"{source_id}.mp4"
        if not video.exists():
            write_video(video, 30)
        lines.append(f'  - {{id: {source_id}, uri: "{video}", loop: true, realtime: true}}')
    lines += ["stages: []", "sinks:", "  - {type: events}", "  - {type: detections}",
              f'output_dir: "{tmp_path / "out"}"', "runner: {progress: false, max_batch: 2}", ""]
    return "\n".join(lines)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    path = tmp_path / "pipeline.yaml"
    path.write_text(pipeline_yaml(tmp_path))
    server = Served(path)
    yield server
    server.close()


def frames_of(server: Served, source_id: str) -> int:
    return server.client.get("/api/stats").json()["sources"].get(source_id, {}).get("frames", 0)


def wait_frames(server: Served, source_id: str, more_than: int) -> int:
    """Source `source_id`'s frame count, once it is above `more_than`."""

    def beyond() -> int:
        frames = frames_of(server, source_id)
        return frames if frames > more_than else 0

    return wait_until(beyond, interval=0.1, what=f"{source_id}: frames beyond {more_than}")


def test_config_get_put_history_revert_and_save(served: Served, tmp_path: Path) -> None:
    client = served.client
    config = client.get("/api/config").json()
    assert config["version"] == 1
    assert config["yaml"].startswith("# two looping sources")
    assert wait_frames(served, "a", 3) > 3

    new = config["yaml"].replace("max_batch: 2", "max_batch: 3")
    response = client.put("/api/config", json={"yaml": new})
    assert response.status_code == 200, response.text
    assert response.json()["version"] == 2
    assert response.json()["changed"] == {"runner": ["max_batch"]}
    assert served.controller.pipeline.config.runner.max_batch == 3
    assert client.get("/api/config").json() == {**config, "version": 2, "yaml": new}

    history = client.get("/api/config/history").json()
    assert [v["version"] for v in history["versions"]] == [1, 2]
    assert client.get("/api/config/history/1").json()["yaml"] == config["yaml"]

    reverted = client.post("/api/config/revert/1")
    assert reverted.status_code == 200, reverted.text
    assert reverted.json()["version"] == 3
    assert client.get("/api/config").json()["yaml"] == config["yaml"]
    assert served.controller.pipeline.config.runner.max_batch == 2
    assert client.post("/api/config/revert/99").status_code == 404

    path = tmp_path / "pipeline.yaml"
    saved = client.put("/api/config", json={"yaml": new, "save": True})
    assert saved.status_code == 200 and saved.json()["saved"] is True
    assert path.read_text() == new
    assert (tmp_path / "pipeline.yaml~").read_text() == config["yaml"]


def test_invalid_config_is_422_with_lines_and_changes_nothing(served: Served, tmp_path: Path) -> None:
    client = served.client
    text = client.get("/api/config").json()["yaml"]
    bad = text.replace("stages: []", "stages:\n  - type: pose\n    score_mn: 0.3\n  - {type: track, lost_frames: -1}")
    for method, url in (("POST", "/api/config/check"), ("PUT", "/api/config")):
        response = client.request(method, url, json={"yaml": bad})
        errors = response.json()["errors"]
        assert response.status_code == (200 if method == "POST" else 422)
        line_of = {e["key"]: e["line"] for e in errors}
        assert line_of["stages.0.score_mn"] == bad.splitlines().index("    score_mn: 0.3") + 1
        assert "did you mean 'score_min'" in next(e["message"] for e in errors if e["key"] == "stages.0.score_mn")
        assert line_of["stages.1.lost_frames"] == bad.splitlines().index("  - {type: track, lost_frames: -1}") + 1
    assert client.get("/api/config").json()["version"] == 1
    assert served.controller.pipeline.config.stages == []

    syntax = client.post("/api/config/check", json={"yaml": "sources:\n  - {id: a\nstages: ["}).json()
    assert syntax["ok"] is False and syntax["errors"][0]["line"] is not None
    assert "invalid YAML" in syntax["errors"][0]["message"] or "YAML" in syntax["errors"][0]["key"]

    good = client.post("/api/config/check", json={"yaml": text.replace("max_batch: 2", "max_batch: 4")}).json()
    assert good["ok"] is True and good["changes"] == {"runner": ["max_batch"]}
    assert "-runner: {progress: false, max_batch: 2}" in good["diff"]


def test_env_values_never_leave_the_server(served: Served, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARGUS_TEST_SECRET", "hunter2-secret")
    client = served.client
    text = client.get("/api/config").json()["yaml"]
    with_env = text.replace("max_batch: 2", "max_batch: '${env:ARGUS_TEST_SECRET}'")
    response = client.put("/api/config", json={"yaml": with_env})
    assert response.status_code == 422
    assert "hunter2" not in response.text and "***" in response.text
    check = client.post("/api/config/check", json={"yaml": with_env})
    assert "hunter2" not in check.text

    renamed = text.replace('output_dir: "', 'output_dir: "${env:ARGUS_TEST_SECRET}/../')
    assert client.put("/api/config", json={"yaml": renamed}).status_code == 200
    for url in ("/api/config", "/api/config/history", "/api/stats", "/api/sources", "/api/config/history/2"):
        body = client.get(url).text
        assert "hunter2" not in body, url
    assert "${env:ARGUS_TEST_SECRET}" in client.get("/api/config").json()["yaml"]


def test_sources_add_remove_preview_and_unknown_ids(served: Served, tmp_path: Path) -> None:
    client = served.client
    video = write_video(tmp_path / "c.mp4", 30)
    assert [s["id"] for s in client.get("/api/sources").json()["sources"]] == ["a", "b"]
    assert served.hub.active is False  # nobody watches: nothing encoded
    added = client.post("/api/sources", json={"id": "c", "uri": str(video), "loop": True})
    assert added.status_code == 200, added.text
    assert added.json()["changed"]["sources"]["added"] == ["c"]
    text = client.get("/api/config").json()["yaml"]
    assert text.startswith("# two looping sources")  # the user's comments survive
    assert yaml.safe_load(text)["sources"][-1] == {"id": "c", "uri": str(video), "loop": True}
    wait_frames(served, "c", 2)

    with client.stream("GET", "/api/sources/c/preview.mjpg") as stream:
        assert stream.headers["content-type"].startswith("multipart/x-mixed-replace")
        data, chunks = b"", stream.iter_bytes()  # kept: a dropped iterator closes the response
        while data.count(b"\xff\xd9") < 2:
            data += next(chunks)
        assert served.hub.active is True
    assert data.startswith(b"--argusframe\r\nContent-Type: image/jpeg")
    assert b"\xff\xd8" in data  # a JPEG
    assert client.get("/api/sources/c/preview.jpg").headers["content-type"] == "image/jpeg"
    wait_until(lambda: not served.hub.active, what="the preview to unsubscribe after its viewer left")
    encoded = served.hub.encoded
    wait_frames(served, "c", wait_frames(served, "c", 0) + 10)  # frames go on, watched by nobody...
    assert served.hub.encoded <= encoded + 1  # ...and are not encoded (one may have been in flight)

    frames_a = wait_frames(served, "a", 0)
    removed = client.delete("/api/sources/c")
    assert removed.status_code == 200 and removed.json()["changed"]["sources"]["removed"] == ["c"]
    assert [s["id"] for s in client.get("/api/sources").json()["sources"]] == ["a", "b"]
    assert wait_frames(served, "a", frames_a) > frames_a  # untouched sources keep going

    assert client.delete("/api/sources/nope").status_code == 404
    assert client.get("/api/sources/nope/preview.mjpg").status_code == 404
    assert client.post("/api/sources", json={"id": "a", "uri": str(video)}).status_code == 409
    assert client.post("/api/sources", json={"uri": str(video)}).status_code == 422
    bad_uri = client.post("/api/sources", json={"id": "d", "uri": str(tmp_path / "missing.mp4")})
    assert bad_uri.status_code in (409, 422) and "missing.mp4" in bad_uri.text
    assert [s["id"] for s in client.get("/api/sources").json()["sources"]] == ["a", "b"]


def test_schema_stats_metrics_and_events(served: Served) -> None:
    client = served.client
    schema = client.get("/api/schema").json()
    assert "sources" in schema["properties"] and "stages" in schema["properties"]
    assert "$defs" in schema
    inlined = client.get("/api/schema?inline=true")
    assert "$ref" not in inlined.text and "score_min" in inlined.text  # completion inside stages
    page = client.get("/")
    assert page.status_code == 200 and "/static/editor.bundle.js" in page.text
    bundle = client.get("/static/editor.bundle.js")
    assert bundle.headers["content-encoding"] == "gzip" and int(bundle.headers["content-length"]) < 500_000
    assert b"ArgusEditor" in bundle.content
    stats = client.get("/api/stats").json()
    assert stats["state"] == "running" and stats["version"] == 1 and set(stats["source_ids"]) == {"a", "b"}
    wait_frames(served, "b", 2)
    metrics = client.get("/metrics")
    assert metrics.status_code == 200 and 'argus_frames_total{source="a"}' in metrics.text

    received: list[dict] = []
    subscribed, done = threading.Event(), threading.Event()

    def listen() -> None:
        with httpx.stream("GET", f"{served.url}/api/events", timeout=60) as stream:
            for line in stream.iter_lines():
                if line == ": connected":  # the server subscribes before it sends this
                    subscribed.set()
                if line.startswith("data: "):
                    received.append(json.loads(line[6:]))
                    if any(e["type"] == "config_applied" for e in received):
                        done.set()
                        return

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    wait_event(subscribed, what="the event stream to connect")
    text = client.get("/api/config").json()["yaml"].replace("max_batch: 2", "max_batch: 1")
    assert client.put("/api/config", json={"yaml": text}).status_code == 200
    wait_event(done, what="config_applied on the event stream")
    applied = [e for e in received if e["type"] == "config_applied"]
    assert applied and applied[0]["source"] == "*"


def test_hostile_input_gets_a_4xx_and_never_touches_the_pipeline(served: Served) -> None:
    client = served.client
    text = client.get("/api/config").json()["yaml"]

    def refused(response: httpx.Response, status: int, words: str) -> None:
        assert response.status_code == status, response.text
        reason = response.json()["detail"]
        assert words in reason and "\n" not in reason

    refused(client.put("/api/config", content=b"x" * (600 * 1024)), 413, "larger than")
    refused(client.put("/api/config", content=b'{"yaml": "\xff\xfe sources"}',
                       headers={"content-type": "application/json"}), 400, "not valid UTF-8")
    refused(client.put("/api/config", content=b"{not json"), 400, "not JSON")
    refused(client.put("/api/config", json=["a list"]), 422, "JSON object")
    refused(client.put("/api/config", json={"yaml": 42}), 422, "'yaml' must be a string")
    refused(client.put("/api/config", json={"yaml": "a: " + "x" * (300 * 1024)}), 413, "larger than")
    laughs = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 9):
        laughs.append(f"{'abcdefghi'[i]}: &{'abcdefghi'[i]} [" + ",".join([f"*{'abcdefghi'[i - 1]}"] * 9) + "]")
    refused(client.put("/api/config", json={"yaml": "\n".join(laughs)}), 400, "expands to more than")
    refused(client.post("/api/config/check", json={"yaml": "a: " + "[" * 5000 + "]" * 5000}), 400, "nested")
    refused(client.put("/api/config", json={"yaml": "a\x00b"}), 400, "NUL")
    chunked = client.put("/api/config", content=iter([b"{" + b" " * 400_000, b" " * 400_000 + b"}"]))
    refused(chunked, 413, "larger than")
    assert client.get("/api/config").json() == {"version": 1, "yaml": text, "path": str(served.controller.path),
                                                "errors": []}
    assert served.controller.pipeline.version == 1


def test_origin_and_host_checks(served: Served) -> None:
    client = served.client
    text = client.get("/api/config").json()["yaml"]
    evil = client.put("/api/config", json={"yaml": text}, headers={"Origin": "http://evil.example"})
    assert evil.status_code == 403 and "cross-origin" in evil.json()["detail"]
    cross = client.post("/api/sources", json={"id": "x", "uri": "demo"}, headers={"Sec-Fetch-Site": "cross-site"})
    assert cross.status_code == 403
    same = client.put("/api/config", json={"yaml": text}, headers={"Origin": served.url})
    assert same.status_code == 200
    assert client.get("/api/config", headers={"Origin": "http://evil.example"}).status_code == 200  # reads ok


def test_token_required_off_loopback(tmp_path: Path) -> None:
    server = Served(None, pipeline_yaml(tmp_path), token="s3cret-token", allowed_hosts=None)
    try:
        client = server.client
        assert client.get("/api/config").status_code == 401
        assert client.get("/").status_code == 401
        assert client.get("/api/config", headers={"Authorization": "Bearer wrong"}).status_code == 401
        ok = client.get("/api/config", headers={"Authorization": "Bearer s3cret-token"})
        assert ok.status_code == 200
        page = client.get("/?token=s3cret-token")
        assert page.status_code == 200 and "argus_token=s3cret-token" in page.headers["set-cookie"]
        assert "HttpOnly" in page.headers["set-cookie"]
        assert client.get("/api/stats", headers={"Cookie": "argus_token=s3cret-token"}).status_code == 200
        saved = client.put("/api/config", json={"yaml": "x: 1", "save": True},
                           headers={"Authorization": "Bearer s3cret-token"})
        assert saved.status_code == 409  # no CONFIG file to save to
    finally:
        server.close()


def test_loopback_refuses_foreign_host_header(tmp_path: Path) -> None:
    server = Served(None, pipeline_yaml(tmp_path), allowed_hosts={"127.0.0.1", "localhost"})
    try:
        assert server.client.get("/api/config").status_code == 200
        rebound = server.client.get("/api/config", headers={"Host": "attacker.example:8080"})
        assert rebound.status_code == 403
    finally:
        server.close()


def test_starts_stopped_on_an_invalid_config_and_starts_on_apply(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    good = pipeline_yaml(tmp_path, comment=False)
    path.write_text(good.replace("max_batch: 2", "max_bach: 2"))
    server = Served(path)
    try:
        client = server.client
        stats = client.get("/api/stats").json()
        assert stats["state"] == "stopped" and server.controller.pipeline is None
        config = client.get("/api/config").json()
        assert config["version"] == 0
        assert config["errors"][0]["key"] == "runner.max_bach"
        assert config["errors"][0]["line"] == good.splitlines().index("runner: {progress: false, max_batch: 2}") + 1
        response = client.put("/api/config", json={"yaml": good, "save": True})
        assert response.status_code == 200, response.text
        assert response.json()["version"] == 1
        assert path.read_text() == good
        assert client.get("/api/stats").json()["state"] == "running"
        wait_frames(server, "a", 2)
    finally:
        server.close()


def test_an_ended_pipeline_is_built_again_on_apply(served: Served) -> None:
    client = served.client
    first = served.controller.pipeline
    first.stop()
    assert first.wait(20) is not None
    assert client.get("/api/stats").json()["state"] == "ended"
    text = client.get("/api/config").json()["yaml"]
    response = client.put("/api/config", json={"yaml": text.replace("max_batch: 2", "max_batch: 1")})
    assert response.status_code == 200, response.text
    assert response.json()["version"] == 2
    assert served.controller.pipeline is not first
    assert client.get("/api/stats").json()["state"] == "running"
    wait_frames(served, "a", 1)
    assert [v["version"] for v in client.get("/api/config/history").json()["versions"]] == [1, 2]


def test_preview_rate_is_capped(tmp_path: Path) -> None:
    """A preview capped at 2 FPS of a 25 FPS source skips frames. Only upper bounds use the clock
    (a slow machine lowers both the frame count and the parts, never raises them)."""
    server = Served(None, pipeline_yaml(tmp_path), preview_fps=2)
    try:
        first = wait_frames(server, "a", 2)
        parts, began = 0, time.monotonic()
        with server.client.stream("GET", "/api/sources/a/preview.mjpg") as stream:
            for chunk in stream.iter_bytes():
                parts += chunk.count(b"--argusframe")
                if parts >= 3 and frames_of(server, "a") >= first + 50:
                    break
        elapsed = time.monotonic() - began
        frames = frames_of(server, "a") - first
        assert parts < frames  # frames were skipped: the preview ran slower than the source...
        assert parts <= 2 * elapsed + 2  # ...at most at the hub's 2 FPS
    finally:
        server.close()


def test_a_missing_config_file_waits_stopped_and_save_creates_it(tmp_path: Path) -> None:
    path = tmp_path / "new.yaml"
    server = Served(path)
    try:
        client = server.client
        config = client.get("/api/config").json()
        assert config["yaml"] == "" and "cannot read" in config["errors"][0]["message"]
        assert client.get("/api/stats").json()["state"] == "stopped"
        text = pipeline_yaml(tmp_path)
        assert client.put("/api/config", json={"yaml": text, "save": True}).status_code == 200
        assert path.read_text() == text and not (tmp_path / "new.yaml~").exists()
        assert client.get("/api/stats").json()["state"] == "running"
    finally:
        server.close()


def test_open_streams_are_limited(served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    import argus.cli.serve.app as app_module

    monkeypatch.setattr(app_module, "MAX_STREAMS", 2)
    with httpx.Client(base_url=served.url, timeout=30) as other, \
            served.client.stream("GET", "/api/events") as first, other.stream("GET", "/api/events") as second:
        assert first.status_code == second.status_code == 200
        lines = [first.iter_lines(), second.iter_lines()]  # kept: a dropped iterator closes its response
        assert [next(it) for it in lines] == [": connected", ": connected"]
        third = httpx.get(served.url + "/api/sources/a/preview.mjpg", timeout=10)
        assert third.status_code == 429 and "too many" in third.json()["detail"]

    def place_free() -> bool:
        with served.client.stream("GET", "/api/events") as again:
            return again.status_code == 200

    wait_until(place_free, interval=0.2, what="closed streams to free their places")
