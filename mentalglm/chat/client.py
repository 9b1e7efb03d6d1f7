"""The project's one client for OpenAI-compatible chat endpoints (a teacher for `data explain`, a served model for
`evaluate --endpoint`): a rate limit shared by its threads, retries with exponential backoff (and the server's
Retry-After) on 429, 5xx, timeouts and dropped connections, and every other failure returned as a counted kind
instead of raised.

Failure kinds: `http_429`, `http_5xx`, `timeout`, `connection` (retries used up), `http_4xx` (not retried: the
request itself is wrong), `malformed` (a 200 whose body is not a chat completion with text).
"""

from __future__ import annotations

import json
import random
import socket
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

FAILURE_KINDS = ("http_429", "http_5xx", "timeout", "connection", "http_4xx", "malformed")
_MAX_BACKOFF_S = 30.0


@dataclass
class Reply:
    """One answer, or why there is none (`failure`, and the last HTTP `status` if any), and how many HTTP requests
    it took."""

    text: str | None
    failure: str | None
    requests: int
    status: int | None = None
    top_logprobs: list[dict[str, float]] | None = None  # per generated token: alternative -> log probability


@dataclass(frozen=True)
class ChatSettings:
    """What every request of a client carries, and how hard it tries."""

    base_url: str
    model: str | None = None
    temperature: float = 0.0
    max_tokens: int = 256
    timeout_s: float = 60.0
    max_retries: int = 4
    backoff_s: float = 1.0
    send_seed: bool = False
    top_logprobs: int = 0  # > 0: ask for the log probabilities of this many alternatives per generated token


class RateLimiter:
    """At most `qps` starts per second over the threads that share it (None: no limit)."""

    def __init__(self, qps: float | None):
        self.interval = 1.0 / qps if qps else 0.0
        self._next = time.monotonic()
        self._lock = threading.Lock()

    def wait(self) -> None:
        """Block until this caller may start a request."""
        if not self.interval:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        time.sleep(max(0.0, start - now))


def chat_settings(section: Any, **overrides: Any) -> ChatSettings:
    """The settings of an `EndpointSection` (mentalglm.config.endpoint), with `overrides`."""
    fields = {name: getattr(section, name) for name in ("base_url", "model", "temperature", "max_tokens", "timeout_s",
                                                        "max_retries", "backoff_s", "send_seed")}
    return ChatSettings(**{**fields, **overrides})


def chat_url(base_url: str) -> str:
    """`…/v1/chat/completions` of a server root or of its `/v1`."""
    base = base_url.rstrip("/")
    return f"{base}/chat/completions" if base.endswith("/v1") else f"{base}/v1/chat/completions"


class ChatClient:
    """Chat completions from one endpoint. Thread-safe; threads share the rate limiter."""

    def __init__(self, settings: ChatSettings, api_key: str | None = None, qps: float | None = None):
        self.settings, self.url = settings, chat_url(settings.base_url)
        self._headers = {"Content-Type": "application/json"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self.limiter = RateLimiter(qps)

    def complete(self, messages: list[dict[str, str]], seed: int = 0) -> Reply:
        """One answer to `messages` (sample `seed` when the settings send seeds), retried as the module docstring
        says."""
        t = self.settings
        payload = {"messages": messages, "temperature": t.temperature, "max_tokens": t.max_tokens, "stream": False}
        if t.model:
            payload["model"] = t.model
        if t.send_seed:
            payload["seed"] = seed
        if t.top_logprobs:
            payload.update(logprobs=True, top_logprobs=t.top_logprobs)
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        failure, failure_wait, status = "connection", None, None
        for attempt in range(t.max_retries + 1):
            if attempt:
                time.sleep(self._backoff(attempt, failure_wait))
            self.limiter.wait()
            failure_wait = None
            request = urllib.request.Request(self.url, data=body, headers=self._headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=t.timeout_s) as response:
                    raw = response.read()
            except urllib.error.HTTPError as exc:
                exc.close()
                status = exc.code
                if exc.code == 429 or exc.code >= 500:
                    failure = "http_429" if exc.code == 429 else "http_5xx"
                    failure_wait = _retry_after(exc.headers.get("Retry-After") if exc.headers else None)
                    continue
                return Reply(None, "http_4xx", attempt + 1, status)
            except (TimeoutError, socket.timeout):
                failure = "timeout"
                continue
            except (urllib.error.URLError, ConnectionError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                failure = "timeout" if isinstance(reason, (TimeoutError, socket.timeout)) else "connection"
                continue
            text, logprobs = _completion(raw)
            return Reply(text, None if text is not None else "malformed", attempt + 1, 200, logprobs)
        return Reply(None, failure, t.max_retries + 1, status)

    def _backoff(self, attempt: int, server_wait: float | None) -> float:
        if server_wait is not None:
            return min(server_wait, _MAX_BACKOFF_S)
        base = min(self.settings.backoff_s * 2 ** (attempt - 1), _MAX_BACKOFF_S)
        return base * (0.5 + random.random() / 2)  # jitter, so throttled workers do not retry in step


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _completion(raw: bytes) -> tuple[str | None, list[dict[str, float]] | None]:
    """The answer text, and the per-token top log probabilities when the body has them in OpenAI's layout
    (`choices[0].logprobs.content[i].top_logprobs[j] = {token, logprob}`); None for a body without either."""
    try:
        choice = json.loads(raw)["choices"][0]
        content = choice["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        return None, None
    if not isinstance(content, str) or not content.strip():
        return None, None
    try:
        tokens = choice["logprobs"]["content"]
        logprobs = [{alt["token"]: float(alt["logprob"]) for alt in token["top_logprobs"]} for token in tokens]
    except (KeyError, TypeError, ValueError):
        logprobs = None
    return content, logprobs
