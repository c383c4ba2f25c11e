"""Who may call the server: a bearer token off loopback, same-origin state changes, known Host names.

- Bound to a loopback address no token is needed; on any other address every request (page, API,
  preview, events) needs the token: `Authorization: Bearer T`, `?token=T` (the page's first load,
  which then sets an HttpOnly SameSite=Strict cookie), or that cookie.
- POST/PUT/PATCH/DELETE with an `Origin` (every browser sends one) must come from the page's own
  origin, and `Sec-Fetch-Site: cross-site` is refused: another site cannot drive the pipeline.
- On loopback the `Host` header must name loopback (no DNS rebinding).
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs

LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
COOKIE = "argus_token"
Send = Callable[[dict], Awaitable[None]]


def is_loopback(host: str) -> bool:
    return host in LOOPBACK or host.startswith("127.")


class SecurityMiddleware:
    """ASGI middleware enforcing the rules in the module docstring (plain ASGI: streams pass through)."""

    def __init__(self, app: Callable, token: str | None, allowed_hosts: set[str] | None = None) -> None:
        self.app, self.token, self.allowed_hosts = app, token, allowed_hosts

    async def __call__(self, scope: dict, receive: Callable, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        host = headers.get("host", "")
        if self.allowed_hosts is not None and host.rsplit(":", 1)[0] not in self.allowed_hosts \
                and host not in self.allowed_hosts:
            await _reject(send, 403, f"host '{host}' is not allowed")
            return
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        set_cookie = False
        if self.token is not None:
            given = _bearer(headers) or _cookie(headers) or (query.get("token") or [""])[0]
            if not given or not hmac.compare_digest(given.encode(), self.token.encode()):
                await _reject(send, 401, "missing or wrong token (Authorization: Bearer ... or ?token=...)")
                return
            set_cookie = bool(query.get("token"))
        if scope["method"] in ("POST", "PUT", "PATCH", "DELETE"):
            origin = headers.get("origin")
            if headers.get("sec-fetch-site") == "cross-site" or (origin is not None and origin not in
                                                                  _own_origins(scope, host)):
                await _reject(send, 403, f"cross-origin request refused (Origin: {origin})")
                return
        if not set_cookie:
            await self.app(scope, receive, send)
            return

        async def send_with_cookie(message: dict) -> None:
            if message["type"] == "http.response.start":
                cookie = f"{COOKIE}={self.token}; HttpOnly; SameSite=Strict; Path=/"
                message = {**message, "headers": [*message.get("headers", []),
                                                  (b"set-cookie", cookie.encode("latin-1"))]}
            await send(message)

        await self.app(scope, receive, send_with_cookie)


def _own_origins(scope: dict, host: str) -> set[str]:
    scheme = scope.get("scheme", "http")
    return {f"{scheme}://{host}"}


def _bearer(headers: dict[str, str]) -> str:
    value = headers.get("authorization", "")
    return value[7:].strip() if value.lower().startswith("bearer ") else ""


def _cookie(headers: dict[str, str]) -> str:
    for part in headers.get("cookie", "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == COOKIE:
            return value
    return ""


async def _reject(send: Send, status: int, reason: str) -> None:
    body = json.dumps({"detail": reason}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
