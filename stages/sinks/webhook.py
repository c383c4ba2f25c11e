"""Events POSTed to an HTTP endpoint (`{type: webhook, url, headers}`) through an on-disk outbox.

Request: `POST url` with `Content-Type: application/json` and the configured `headers`; the body is
a JSON array of up to `batch_size` events (`Event.to_json()` objects, oldest first; `batch_size: 1`
sends one event per request, still as a one-element array). Credentials in the URL
(`https://user:pass@host/...`) are sent as HTTP Basic authentication, never as part of the URL.

Delivery guarantee: at least once, in order (globally, hence per source). A batch leaves the
outbox only after a 2xx answer. Any other answer (3xx, 4xx, 5xx), a timeout or a refused connection
is retried, the same batch again, after a back-off from 0.5 s up to `retry_max_s`; the endpoint may
see a batch twice when an answer is lost: deduplicate by the events' `id`. The URL's credentials and
header values never appear in logs or errors.
"""

from __future__ import annotations

import base64
import logging
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from pipeline.stage import StageConfig
from stages.sinks.outbox import Backoff, OutboxSink

log = logging.getLogger(__name__)


class WebhookSinkConfig(StageConfig):
    """Events POSTed as JSON arrays to an HTTP(S) endpoint, kept in an on-disk outbox until it answers 2xx."""

    type: Literal["webhook"] = "webhook"
    url: str = Field(..., description="Endpoint, http:// or https:// (use `${env:VAR}` for credentials).")
    headers: dict[str, str] = Field(default_factory=dict, description="Extra request headers (values never logged).")
    timeout_s: float = Field(10.0, gt=0, description="Per-request timeout.")
    batch_size: int = Field(100, ge=1, le=10000, description="Events per request (1: one request per event).")
    outbox: str = Field("outbox-webhook.db", description="Outbox file under output_dir; what a run could not "
                        "deliver is delivered first by the next run with the same file.")
    retry_max_s: float = Field(10.0, gt=0, description="Longest wait between retries.")
    flush_timeout_s: float = Field(5.0, ge=0, description="On close, wait at most this long for the outbox "
                                   "to empty; the rest stays in the outbox.")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urllib.parse.urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host")
        try:
            parts.port  # noqa: B018 (raises on a bad port)
        except ValueError as exc:
            raise ValueError(f"bad port ({exc})") from None
        return value


def split_credentials(url: str) -> tuple[str, str | None]:
    """The URL without `user:password@`, and the matching `Authorization: Basic` value (or None)."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, None
    netloc = parts.hostname or ""
    if ":" in netloc:  # IPv6 literal
        netloc = f"[{netloc}]"
    if parts.port is not None:
        netloc += f":{parts.port}"
    user = urllib.parse.unquote(parts.username or "")
    password = urllib.parse.unquote(parts.password or "")
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc)), f"Basic {token}"


class WebhookSink(OutboxSink):
    """POSTs batches of events from its own delivery thread."""

    name = "webhook"

    def __init__(self, config: WebhookSinkConfig, output_dir: Path) -> None:
        self.config = config
        self._url, basic = split_credentials(config.url)
        self._headers = {"Content-Type": "application/json", "User-Agent": "argus-pipeline"}
        if basic is not None:
            self._headers["Authorization"] = basic
        self._headers.update(config.headers)
        # No redirects: a POST goes where the config says (proxies come from the environment as usual).
        self._opener = urllib.request.build_opener(_NoRedirect())
        super().__init__(output_dir, config.outbox, flush_timeout_s=config.flush_timeout_s)
        self._start()

    @property
    def endpoint(self) -> str:
        """The URL without credentials, query or fragment (for messages)."""
        parts = urllib.parse.urlsplit(self._url)
        return urllib.parse.urlunsplit(parts._replace(query="", fragment=""))

    def _post(self, body: bytes) -> str | None:
        """POST one batch; None when the endpoint answered 2xx, else why not."""
        request = urllib.request.Request(self._url, data=body, headers=self._headers, method="POST")
        try:
            with self._opener.open(request, timeout=self.config.timeout_s) as response:
                response.read()
                status = response.status
        except urllib.error.HTTPError as exc:
            status = exc.code
            exc.close()
        except (urllib.error.URLError, OSError) as exc:
            reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            return f"POST {self.endpoint}: {type(reason).__name__}: {reason}"
        return None if 200 <= status < 300 else f"POST {self.endpoint}: HTTP {status}"

    def _deliver_loop(self) -> None:
        backoff = Backoff(0.5, self.config.retry_max_s)
        while not self._stop.is_set():
            batch = self.outbox.peek(self.config.batch_size)
            if not batch:
                self._wake.wait(0.2)
                self._wake.clear()
                continue
            failure = self._post(b"[" + b",".join(item.body.encode() for item in batch) + b"]")
            if failure is None:
                self.outbox.remove(item.seq for item in batch)
                self._up(f"endpoint {self.endpoint} accepts events again")
                backoff.reset()
            else:
                self._down(failure)
                self._sleep(backoff.next())


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Turn redirects into errors (urllib would silently replay a POST as a GET without the body)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        return None
