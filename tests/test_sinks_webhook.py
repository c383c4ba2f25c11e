"""Webhook sink against a real local HTTP server that fails for a while: no event lost, order kept.

The endpoint refuses until the test lets it accept (no failure window timed by the clock)."""

from __future__ import annotations

import base64
import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pipeline.config import load_config
from pipeline.errors import ConfigError
from pipeline.types import Event, EventType
from stages.sinks.webhook import WebhookSink, WebhookSinkConfig
from tests.live_servers import free_port
from tests.waiting import wait_event, wait_until


class Endpoint:
    """A local HTTP server: answers `fail_status` while `refusing`, else 200; records what it accepted."""

    def __init__(self, port: int = 0) -> None:
        self.accepted: list[dict] = []
        self.requests = 0
        self.failed = 0
        self.headers: list[dict[str, str]] = []
        self.refusing = False
        self.fail_status = 500
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                endpoint.requests += 1
                if endpoint.refusing:
                    endpoint.failed += 1
                    self.send_response(endpoint.fail_status)
                else:
                    endpoint.headers.append(dict(self.headers))
                    endpoint.accepted.extend(json.loads(body))
                    self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    server = Endpoint()
    yield server
    server.stop()


def emit(sink: WebhookSink, sent: list[Event], batches: int, sources: tuple[str, ...] = ("a", "b")) -> None:
    """Write `batches` batches of events from this thread (as the runner does)."""
    for _ in range(batches):
        batch = [Event(EventType.TRACK_STARTED, s, frame_index=len(sent) + i, payload={"n": len(sent) + i})
                 for i, s in enumerate(sources)]
        sink.write_events(batch)
        sent.extend(batch)


def assert_all_once_in_order(received: list[dict], sent: list[Event]) -> None:
    first: dict[str, dict] = {}
    for event in received:
        first.setdefault(event["id"], event)
    assert set(first) == {e.id for e in sent}, f"lost {len({e.id for e in sent} - set(first))} events"
    for source in {e.source_id for e in sent}:
        got = [i for i, e in first.items() if e["source"] == source]
        assert got == [e.id for e in sent if e.source_id == source], f"order broken for source {source}"


def test_webhook_retries_through_500s_without_loss(tmp_path: Path, endpoint: Endpoint,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    endpoint.refusing = True
    url = f"http://argus:hunter2@127.0.0.1:{endpoint.port}/hook?token=abc"
    sink = WebhookSink(WebhookSinkConfig(url=url, headers={"X-Api-Key": "k3y-value"}, batch_size=20,
                                         retry_max_s=0.5, flush_timeout_s=60), tmp_path)
    sent: list[Event] = []
    with caplog.at_level(logging.DEBUG):
        written = threading.Event()
        writer = threading.Thread(target=lambda: (emit(sink, sent, 75), written.set()), daemon=True)
        writer.start()  # write_events never waits for the endpoint: this ends while it refuses
        wait_event(written, what="write_events to return while the endpoint refuses")
        wait_until(lambda: endpoint.failed >= 2, what="the endpoint to refuse twice")
        assert sink.outbox_size > 0 and not endpoint.accepted  # kept, waiting for the endpoint
        endpoint.refusing = False
        sink.close()  # delivers everything (flush_timeout_s is generous)
    assert sink.outbox_size == 0
    assert_all_once_in_order(endpoint.accepted, sent)
    assert len(endpoint.accepted) == len(sent)  # 500 means not accepted: nothing is sent twice here
    headers = endpoint.headers[0]
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"argus:hunter2").decode()
    assert headers["X-Api-Key"] == "k3y-value" and headers["Content-Type"] == "application/json"
    assert "HTTP 500" in caplog.text and "accepts events again" in caplog.text
    for secret in ("hunter2", "k3y-value", "token=abc"):
        assert secret not in caplog.text


def test_webhook_refused_then_next_run_delivers_outbox(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()  # nothing listens there yet: connection refused
    config = WebhookSinkConfig(url=f"http://127.0.0.1:{port}/", retry_max_s=0.3, flush_timeout_s=0.3)
    first = WebhookSink(config, tmp_path)
    sent: list[Event] = []
    emit(first, sent, 25, sources=("cam",))
    first.close()
    assert first.outbox_size == len(sent) > 0
    assert "ConnectionRefusedError" in caplog.text and "kept in" in caplog.text
    server = Endpoint(port)
    try:
        second = WebhookSink(config.model_copy(update={"flush_timeout_s": 60.0}), tmp_path)
        assert second.outbox_size == len(sent)
        emit(second, sent, 10, sources=("cam",))
        second.close()
        assert second.outbox_size == 0
        assert [e["id"] for e in server.accepted] == [e.id for e in sent]
    finally:
        server.stop()


@pytest.mark.parametrize(("url", "message"), [
    ("ftp://user:pw@host/x", "http:// or https://"),
    ("http://user:pw@host:99999/x", "bad port"),
    ("https://", "http:// or https://"),
])
def test_webhook_bad_url_names_key_and_hides_credentials(url: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, replace={"sinks": [{"type": "webhook", "url": url}]})
    text = str(info.value)
    assert "sinks.0.url" in text and message in text and "pw" not in text
