"""The ASGI layer in front of the API, before any route or body parser runs: the size of the request line and
headers (431), the Host (400, only when bound beyond loopback: `serve.allowed_hosts`), the bearer token (401), then
the body size (413).

It wraps the application a replica serves (`RequestGuard(app, token, max_body_bytes)`), for the transformers
deployment and the vLLM ingress alike. A body is read here, up to `max_body_bytes`, and handed to the application
whole; a larger one gets 413 as soon as its Content-Length says so, or, for a chunked body, as soon as the bytes
read pass the limit — the rest is never read.

Serve's HTTP proxy reads a request's body from the client on its own, as fast as it arrives, and queues it for the
replica, so a limit in the replica alone still lets a 50 MB body into two processes' memory. The same guard (body
and header size only) therefore also runs inside the proxy: `proxy_env(max_body_bytes)` is the environment the Serve
controller gets at `serve.start`, which its proxies inherit; it names `proxy_middlewares` as Serve's HTTP proxy
callback. It takes effect when Serve first starts on a cluster (on a cluster whose Serve is started otherwise, set
the same two variables on the nodes).
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import os
from typing import Any, Awaitable, Callable

from mentalglm.serve.auth import TOKEN_ENV, is_loopback, needs_token

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
_WITH_BODY = ("POST", "PUT", "PATCH")
PROXY_LIMIT_ENV = "MENTALGLM_PROXY_MAX_BODY_BYTES"
PROXY_DEFAULT_LIMIT = 1024 * 1024
PROXY_HEADER_LIMIT_ENV = "MENTALGLM_PROXY_MAX_HEADER_BYTES"
PROXY_DEFAULT_HEADER_LIMIT = 32 * 1024


def error_body(status: int, message: str, kind: str) -> bytes:
    """The JSON of every error response: `{"error": {"message", "type", "code"}}` (OpenAI's shape)."""
    return json.dumps({"error": {"message": message, "type": kind, "code": status}}).encode("utf-8")


async def send_error(send: Send, status: int, message: str, kind: str) -> None:
    """Send a complete JSON error response on a raw ASGI `send`."""
    headers = [(b"content-type", b"application/json")]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    body = error_body(status, message, kind)
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def header_bytes(scope: Scope) -> int:
    """The size of a request's line and headers as sent (name, value and separators of each header)."""
    line = len(scope.get("raw_path") or scope.get("path", "").encode()) + len(scope.get("query_string", b""))
    return line + sum(len(k) + len(v) + 4 for k, v in scope.get("headers", ()))


def host_allowed(scope: Scope, allowed: tuple[str, ...] | None) -> bool:
    """Whether the request's Host may be answered: any with no list (`allowed` None); else an IP address, a
    loopback name, or a name `allowed` gives (exactly, or under a `*.domain`). DNS rebinding needs a name."""
    if allowed is None:
        return True
    given = next((v for k, v in scope.get("headers", ()) if k == b"host"), b"").decode("latin-1").strip().lower()
    host = given[1:given.index("]")] if given.startswith("[") and "]" in given else given.rsplit(":", 1)[0]
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    return host in ("localhost", *allowed) or any(a.startswith("*.") and host.endswith(a[1:]) for a in allowed)


class RequestGuard:
    """An ASGI application that checks header size, Host, token and body size, in that order, then calls `app`."""

    def __init__(self, app: Any, token: str | None, max_body_bytes: int, max_header_bytes: int = 32 * 1024,
                 allowed_hosts: tuple[str, ...] | None = None):
        self.app, self.token, self.max_body_bytes = app, token, max_body_bytes
        self.max_header_bytes, self.allowed_hosts = max_header_bytes, allowed_hosts

    @classmethod
    def for_settings(cls, app: Any, token: str | None, settings: Any) -> "RequestGuard":
        """The guard of a replica with these `serve.*` settings (the Host check only beyond loopback)."""
        check = not is_loopback(settings.host) and "*" not in settings.allowed_hosts
        hosts = tuple(h.lower() for h in settings.allowed_hosts) if check else None
        return cls(app, token, settings.max_body_bytes, settings.max_header_bytes, hosts)

    def add_exception_handler(self, *args: Any, **kwargs: Any) -> None:
        # Serve registers its overload errors (503) on the app it serves; they belong to the wrapped app.
        self.app.add_exception_handler(*args, **kwargs)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        size = header_bytes(scope)
        if size > self.max_header_bytes:
            await send_error(send, 431, f"request line and headers of {size} bytes are over the limit of "
                                        f"{self.max_header_bytes} (serve.max_header_bytes)", "request_too_large")
            return
        if not host_allowed(scope, self.allowed_hosts):
            await send_error(send, 400, "the Host header names a host this service does not answer to (add it to "
                                        "serve.allowed_hosts)", "invalid_request_error")
            return
        path = scope.get("path", "")
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root):] or "/"
        if self.token and needs_token(path) and not self._authorized(scope):
            await send_error(send, 401, f"missing or wrong bearer token (the server requires one: {TOKEN_ENV} "
                                        "or serve.token_file)", "authentication_error")
            return
        if scope.get("method") not in _WITH_BODY:
            await self.app(scope, receive, send)
            return
        body = await self._read_body(scope, receive, send)
        if body is None:
            return
        await self.app(scope, _replay(body, receive), send)

    def _authorized(self, scope: Scope) -> bool:
        given = next((v for k, v in scope.get("headers", ()) if k == b"authorization"), b"")
        scheme, _, value = given.partition(b" ")
        return scheme.lower() == b"bearer" and hmac.compare_digest(value.strip(), self.token.encode("utf-8"))

    async def _read_body(self, scope: Scope, receive: Receive, send: Send) -> bytes | None:
        """The whole body, or None once an error was sent (too large) or the client left."""
        limit = self.max_body_bytes
        declared = next((v for k, v in scope.get("headers", ()) if k == b"content-length"), None)
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                await send_error(send, 422, "Content-Length is not a number", "invalid_request_error")
                return None
            if size > limit:
                await send_error(send, 413, f"body of {size} bytes is over the limit of {limit} "
                                            "(serve.max_body_bytes)", "request_too_large")
                return None
        chunks: list[bytes] = []
        read = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            read += len(chunk)
            if read > limit:
                await send_error(send, 413, f"body is over the limit of {limit} bytes (serve.max_body_bytes)",
                                 "request_too_large")
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that gives `body` as one message, then waits on the real one (for the disconnect)."""
    sent = False

    async def replay() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def proxy_middlewares() -> list:
    """Serve's HTTP proxy callback: the header- and body-size guard, with the limits from
    MENTALGLM_PROXY_MAX_HEADER_BYTES and MENTALGLM_PROXY_MAX_BODY_BYTES."""
    from starlette.middleware import Middleware

    limit = int(os.environ.get(PROXY_LIMIT_ENV) or PROXY_DEFAULT_LIMIT)
    headers = int(os.environ.get(PROXY_HEADER_LIMIT_ENV) or PROXY_DEFAULT_HEADER_LIMIT)
    return [Middleware(RequestGuard, token=None, max_body_bytes=limit, max_header_bytes=headers)]


def proxy_env(max_body_bytes: int, max_header_bytes: int = PROXY_DEFAULT_HEADER_LIMIT) -> dict[str, str]:
    """Environment variables that put `proxy_middlewares` into Serve's HTTP proxies (via the controller)."""
    return {"RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH": f"{__name__}:proxy_middlewares",
            PROXY_LIMIT_ENV: str(max_body_bytes), PROXY_HEADER_LIMIT_ENV: str(max_header_bytes)}
