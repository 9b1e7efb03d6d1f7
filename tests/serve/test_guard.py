"""What the service refuses before it parses anything: request headers over `serve.max_header_bytes` (431, in the
proxy, before the token), a Host it does not answer to when bound beyond loopback (400), bodies over
`serve.max_body_bytes` (413, without reading them whole), callers without the token on the API and its docs, chat
fields it does not implement (422); and the token stays out of every config Ray and Serve show. (Streams beyond the
cap: test_failures.py.)"""

import json
import socket
import sys
import time
from urllib.parse import urlsplit

import httpx
import psutil
import pytest

from conftest import TOKEN
from paths import REPO

sys.path.insert(0, str(REPO / "benchmarks"))

from serve_load import actor_pid, serve_actors  # noqa: E402

FIFTY_MB = 50 * 1024 * 1024
CHAT = {"messages": [{"role": "user", "content": "我好累"}], "max_tokens": 2}


def _connect(url: str) -> socket.socket:
    parts = urlsplit(url)
    return socket.create_connection((parts.hostname, parts.port), timeout=30)


def _status(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


def _read_response(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def _serve_pids() -> dict[str, int]:
    """Process ids of the HTTP proxy and of the main application's replica."""
    wanted = {"proxy": serve_actors("SERVE_PROXY_ACTOR"), "replica": serve_actors("SERVE_REPLICA::mentalglm#")}
    return {role: actor_pid(found[0]) for role, found in wanted.items() if len(found) == 1}


def _rss_mb(pids: dict[str, int]) -> dict[str, float]:
    return {name: psutil.Process(pid).memory_info().rss / 2**20 for name, pid in pids.items()}


def test_a_declared_50_mb_body_gets_413_before_any_of_it_is_sent(served):
    main, _, _ = served
    with _connect(main) as sock:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Authorization: Bearer " + TOKEN.encode() + b"\r\nContent-Length: " +
                     str(FIFTY_MB).encode() + b"\r\n\r\n")
        response = _read_response(sock)  # not one byte of the body was sent
    assert _status(response) == 413, response[:300]
    assert b"serve.max_body_bytes" in response or b"content-length" in response.lower()


def test_an_8_mb_header_gets_431_before_the_token_is_asked_for(served):
    main, _, cfg = served
    path = urlsplit(main).path.rstrip("/") + "/v1/models"
    with _connect(main) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nX-Padding: ".encode() + b"a" * (8 * 1024 * 1024)
                     + b"\r\n\r\n")
        response = _read_response(sock)
        head, _, body = response.partition(b"\r\n\r\n")
        length = int(next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(
            b"content-length")))
        while len(body) < length:  # the body may come in a later packet than the headers
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
        response = head + b"\r\n\r\n" + body
    assert _status(response) == 431, response[:300]
    assert b"over the limit of 32768 (serve.max_header_bytes)" in response
    near = {"X-Padding": "a" * (cfg.serve.max_header_bytes - 1024)}
    assert httpx.get(f"{main}/healthz", headers=near, timeout=30).status_code == 200


def test_a_chunked_50_mb_body_is_cut_off_and_memory_stays_flat(served):
    main, _, _ = served
    pids = _serve_pids()
    assert len(pids) == 2, pids
    before = _rss_mb(pids)
    sent_per_try = []
    for _ in range(3):
        with _connect(main) as sock:
            sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Authorization: Bearer " + TOKEN.encode() + b"\r\nTransfer-Encoding: chunked\r\n\r\n")
            piece = b"a" * 65536
            chunk = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
            sent, response, pending = 0, b"", memoryview(chunk)
            sock.settimeout(0.0)
            while sent < FIFTY_MB:  # send as fast as the server takes it, until it answers
                try:
                    response += sock.recv(65536)
                    if response:
                        break
                except BlockingIOError:
                    pass
                try:
                    n = sock.send(pending)
                except BlockingIOError:
                    time.sleep(0.001)
                    continue
                except (BrokenPipeError, ConnectionResetError):
                    break
                sent += n
                pending = pending[n:] or memoryview(chunk)
            sock.settimeout(30)
            if not response:
                try:
                    response = _read_response(sock)
                except ConnectionResetError:
                    pass
            sent_per_try.append(sent)
            assert response and _status(response) == 413, response[:300]
    after = _rss_mb(pids)
    print(f"chunked 50 MB bodies: bytes sent before the 413 {sent_per_try}; RSS MB before {before} after {after}")
    assert max(sent_per_try) < FIFTY_MB / 2
    for name in pids:
        assert after[name] - before[name] < 40, (name, before, after)


def test_a_body_just_under_the_limit_is_read(served, auth):
    main, _, cfg = served
    limit = cfg.serve.max_body_bytes
    padding = limit - len(json.dumps(CHAT)) - 40
    body = json.dumps({**CHAT, "user": "x" * padding})
    assert len(body) <= limit
    ok = httpx.post(f"{main}/v1/chat/completions", content=body, headers={**auth, "Content-Type": "application/json"},
                    timeout=60)
    assert ok.status_code == 200, ok.text[:300]
    over = httpx.post(f"{main}/v1/chat/completions", content=body + " " * (limit - len(body) + 1),
                      headers={**auth, "Content-Type": "application/json"}, timeout=60)
    assert over.status_code == 413 and over.json()["error"]["type"] == "request_too_large"


@pytest.mark.parametrize("path", ["/docs", "/openapi.json", "/redoc"])
def test_docs_need_the_token_when_v1_does(served, auth, path):
    main, strict, _ = served
    assert httpx.get(main + path).status_code == 401
    assert httpx.get(main + path, headers=auth).status_code == 200
    assert httpx.get(strict + path).status_code == 200  # strict serves loopback without a token


def test_stream_usage_is_sent_when_asked(served, auth):
    main, _, _ = served
    body = {**CHAT, "max_tokens": 5, "min_tokens": 5, "stream": True, "stream_options": {"include_usage": True}}
    r = httpx.post(f"{main}/v1/chat/completions", json=body, headers=auth, timeout=60)
    events = [json.loads(line[6:]) for line in r.text.splitlines() if line.startswith("data: {")]
    assert events[-1]["choices"] == [] and events[-1]["usage"]["completion_tokens"] == 5


@pytest.mark.parametrize("field, value", [("stop", ["\n"]), ("seed", 7), ("tools", [{"type": "function"}]),
                                          ("logprobs", True), ("presence_penalty", 0.5), ("logit_bias", {"1": 5}),
                                          ("response_format", {"type": "json_object"}), ("best_of", 2),
                                          ("frequency_penalty", 1), ("no_such_field", 1)])
def test_each_unsupported_chat_field_gets_422_naming_it(served, auth, field, value):
    main, _, _ = served
    r = httpx.post(f"{main}/v1/chat/completions", json={**CHAT, field: value}, headers=auth, timeout=60)
    assert r.status_code == 422, r.text
    assert f"{field}: not" in r.json()["error"]["message"]


def test_unsupported_fields_with_their_unused_values_are_accepted(served, auth):
    main, _, _ = served
    body = {**CHAT, "stop": None, "seed": None, "tools": [], "logprobs": False, "presence_penalty": 0,
            "frequency_penalty": 0.0, "response_format": {"type": "text"}, "n": 1, "user": "analyst-7"}
    assert httpx.post(f"{main}/v1/chat/completions", json=body, headers=auth, timeout=60).status_code == 200


def test_the_token_is_in_no_config_ray_or_serve_shows(served):
    """The token file's contents reach the replica, but neither `serve status`, the dashboard's Serve and actor
    APIs (runtime_env and init arguments included) nor `serve.status()` show them."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from ray import serve
    from ray._private.worker import get_dashboard_url

    main, _, _ = served
    assert httpx.get(f"{main}/v1/models", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    dashboard = "http://" + get_dashboard_url()
    ray_token = (Path.home() / ".ray" / "auth_token").read_text().strip()
    shown = {"serve.status()": repr(serve.status())}
    for route in ("/api/serve/applications/", "/api/v0/actors?detail=1&limit=1000", "/api/jobs/"):
        r = httpx.get(dashboard + route, headers={"Authorization": f"Bearer {ray_token}"}, timeout=30)
        assert r.status_code == 200, (route, r.status_code, r.text[:200])
        shown[route] = r.text
    assert "MentalGLM" in shown["/api/serve/applications/"]
    cli = subprocess.run([str(Path(sys.executable).parent / "serve"), "status", "--address", dashboard],
                         capture_output=True, text=True, timeout=120, env={**os.environ, "RAY_AUTH_MODE": "token"})
    assert cli.returncode == 0 and "mentalglm" in cli.stdout, cli.stderr[-500:]
    shown["serve status"] = cli.stdout
    for where, text in shown.items():
        assert TOKEN not in text, where
    if os.environ.get("HF_HUB_OFFLINE"):  # what a deployment's runtime_env holds is shown: the token used to be there
        assert '"HF_HUB_OFFLINE"' in shown["/api/serve/applications/"]


# Host names a service bound beyond loopback answers to: (allowed_hosts, Host header, answered)
HOSTS = [
    ([], "10.0.3.7:8000", True), ([], "[2001:db8::5]:8000", True), ([], "localhost:8000", True),
    ([], "127.0.0.1", True), ([], "attacker.example:8000", False), ([], "", False),
    (["mentalglm.example.org"], "MentalGLM.example.org:443", True), (["mentalglm.example.org"], "example.org", False),
    (["*.svc.cluster.local"], "serve.default.svc.cluster.local", True),
    (["*.svc.cluster.local"], "svc.cluster.local.attacker.example", False),
    (["*.svc.cluster.local"], "evilsvc.cluster.local", False), (["*"], "anything.example", True),
]


@pytest.mark.parametrize("allowed, host, answered", HOSTS)
def test_beyond_loopback_only_the_allowed_hosts_are_answered(allowed, host, answered):
    import asyncio

    from fastapi import FastAPI

    from mentalglm.config.serve import ServeSection
    from mentalglm.serve.guard import RequestGuard

    app = FastAPI()
    app.get("/healthz")(lambda: {"status": "ok"})
    guard = RequestGuard.for_settings(app, "tok", ServeSection(host="0.0.0.0", allowed_hosts=allowed))

    async def get():
        transport = httpx.ASGITransport(app=guard)
        async with httpx.AsyncClient(transport=transport, base_url="http://placeholder") as client:
            return await client.get("/healthz", headers={"Host": host})

    response = asyncio.run(get())
    assert response.status_code == (200 if answered else 400), response.text
    if not answered:
        assert "serve.allowed_hosts" in response.json()["error"]["message"]
    loopback = RequestGuard.for_settings(app, "tok", ServeSection(host="127.0.0.1", allowed_hosts=allowed))
    assert loopback.allowed_hosts is None  # bound to loopback: no Host check
