"""The pipeline's serving smoke test: start the service on an adapter, send three requests, stop it."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

from mentalglm.config import load_config
from mentalglm.config.serve import ServeConfig

SMOKE_POST = "最近压力很大，总觉得自己什么都做不好，晚上也睡不着。"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _call(method: str, url: str, body: dict | None = None) -> tuple[int, float, dict]:
    data = json.dumps(body).encode("utf-8") if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            status, payload = response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        status, payload = exc.code, {}
    return status, (time.perf_counter() - start) * 1000, payload


def serve_smoke(config: str | Path, model_dir: Path, data_dir: Path, adapter: Path,
                port: int | None = None, model_id: str | None = None) -> list[dict]:
    """Start the service from `config` on `adapter` (listed as `model_id` when given), call /healthz, /v1/analyze and /v1/chat/completions once
    each, stop the service, and return one row per call (route, status, latency_ms, what came back).

    Raises:
        ConfigError: a bad serve config or adapter; TimeoutError: the service never became healthy.
    """
    from mentalglm.serve.service import start_service, stop_service

    cfg = load_config(ServeConfig, config, [f"model.name_or_path={model_dir}", f"data.dir={data_dir}",
                                            f"serve.port={port or free_port()}",
                                            *([f"serve.model_id={model_id}"] if model_id else [])])
    url = start_service(cfg, adapter)
    try:
        calls = [("GET", "/healthz", None), ("POST", "/v1/analyze", {"post": SMOKE_POST}),
                 ("POST", "/v1/chat/completions",
                  {"messages": [{"role": "user", "content": "你好"}], "max_tokens": 16})]
        rows = []
        for method, route, body in calls:
            status, ms, payload = _call(method, url + route, body)
            if route == "/v1/analyze":
                seen = ", ".join(f"{r['task']}: {'/'.join(r['labels']) or 'unparsed'}"
                                 for r in payload.get("results", []))
            elif route == "/healthz":
                seen = payload.get("model", "")
            else:
                seen = f"{payload.get('usage', {}).get('completion_tokens', '?')} tokens"
            rows.append({"route": f"{method} {route}", "status": status, "latency_ms": round(ms, 1), "answer": seen})
        return rows
    finally:
        stop_service(cfg.serve.app_name)
