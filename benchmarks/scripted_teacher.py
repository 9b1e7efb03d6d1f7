"""A scripted OpenAI-compatible teacher on 127.0.0.1 (real HTTP, a thread of the calling process), for the tests and
the benchmark of `mentalglm data explain`.

It reads the post, the gold labels' answer sentence and the other labels from the request's last user turn (the
project's prompt layout) and answers each request with a behaviour: per post, a list of behaviours used one per
request (the last one repeats); posts not listed get `default`. Behaviours:

    good            the gold answer sentence + a Chinese 理由 quoting the post's first characters in 「」
    wrong_label     the answer sentence of another label
    invented_quote  a 理由 quoting words the post does not contain
    no_quote        a 理由 without 「」
    english         a 理由 in English
    pii             a 理由 with a phone number
    url             a 理由 with a link
    special_token   a 理由 with a chat-template control string
    http_429        429 with Retry-After: 0          http_500   500
    http_400        400                              timeout    sleeps `sleep_s` before answering
    malformed       200 with a body that is not JSON

`requests` logs (post, seed) of every request in arrival order, `request_times()` when each came; `latency_s`
delays every answer. `respond(body, n)` replaces all of this for other prompts (a judge's): given the request body
and how many requests with the same last message came before, it returns (status, JSON-able reply).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_POST_RE = re.compile(r"帖子：(.*?)\n专家(?:标注|判断|评定)：", re.DOTALL)
_SENTENCE_RE = re.compile(r"\n([^\n]+?)理由：……")
_SWAP = {"高自杀风险": "低自杀风险", "低自杀风险": "高自杀风险"}


def _quote(post: str) -> str:
    return post.strip()[:6]


def _good(post: str, sentence: str) -> str:
    return (f"{sentence}理由：帖子中写道「{_quote(post)}」，这句话直接反映了发帖人当时的想法和处境，"
            "与专家给出的判断一致，因此作出上述结论。")


def _wrong(sentence: str) -> str:
    for label, other in _SWAP.items():
        if label in sentence:
            return sentence.replace(label, other)
    return "这篇帖子体现了非此即彼的认知歪曲。" if "非此即彼" not in sentence else "这篇帖子体现了放大的认知歪曲。"


def answer_text(behaviour: str, post: str, sentence: str) -> str:
    """The answer text of a text behaviour."""
    reason = {"good": None,
              "wrong_label": None,
              "invented_quote": "帖子中写道「这句话帖子里根本没有」，这直接反映了发帖人的想法，因此作出上述结论。",
              "no_quote": "发帖人描述了自己的处境和感受，这些内容与专家给出的判断一致，因此作出上述结论。",
              "english": f"The post says 「{_quote(post)}」, which clearly shows the writer's state of mind here.",
              "pii": f"帖子中写道「{_quote(post)}」，发帖人留下了联系电话13812345678，与专家判断一致，因此作出上述结论。",
              "url": f"帖子中写道「{_quote(post)}」，参考 https://example.com/x 的说明，与专家判断一致，因此作出上述结论。",
              "special_token": f"帖子中写道「{_quote(post)}」，<|assistant|>这与专家给出的判断一致，因此作出上述结论。",
              }[behaviour]
    if behaviour == "good":
        return _good(post, sentence)
    if behaviour == "wrong_label":
        return _good(post, _wrong(sentence))
    return f"{sentence}理由：{reason}"


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # the default 5 refuses connections beyond a handful in flight


class ScriptedTeacher:
    """The server. Use as a context manager; `url` is its root."""

    def __init__(self, behaviours: dict[str, list[str]] | None = None, default: str = "good",
                 latency_s: float = 0.0, sleep_s: float = 2.0, respond: Any = None):
        self.behaviours, self.respond = behaviours or {}, respond
        self.default, self.latency_s, self.sleep_s = default, latency_s, sleep_s
        self.requests: list[tuple[str, Any]] = []
        self._times: list[float] = []
        self._seen: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()
        teacher = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # posts are sensitive: no request log lines
                pass

            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                teacher._answer(self, body)

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> ScriptedTeacher:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()

    def posts_requested(self) -> list[str]:
        """The post of every request so far, in arrival order."""
        with self._lock:
            return [post for post, _ in self.requests]

    def request_times(self) -> list[float]:
        """When each request arrived (time.monotonic), in arrival order."""
        with self._lock:
            return list(self._times)

    def _answer(self, handler: BaseHTTPRequestHandler, body: dict) -> None:
        user = body["messages"][-1]["content"]
        if self.respond is not None:
            with self._lock:
                n = self._seen[user]
                self._seen[user] += 1
                self.requests.append((user, body.get("seed")))
                self._times.append(time.monotonic())
            status, reply = self.respond(body, n)
            self._send(handler, status, json.dumps(reply, ensure_ascii=False).encode("utf-8"), {"Retry-After": "0"})
            return
        post = _POST_RE.search(user).group(1)
        sentence = _SENTENCE_RE.search(user).group(1)
        with self._lock:
            self.requests.append((post, body.get("seed")))
            self._times.append(time.monotonic())
            script = self.behaviours.get(post, [self.default])
            behaviour = script[min(self._seen[post], len(script) - 1)]
            self._seen[post] += 1
        if self.latency_s:
            time.sleep(self.latency_s)
        if behaviour.startswith("http_"):
            code = int(behaviour.removeprefix("http_"))
            self._send(handler, code, b'{"error": {"message": "scripted"}}', {"Retry-After": "0"})
            return
        if behaviour == "timeout":
            time.sleep(self.sleep_s)
            behaviour = "good"
        if behaviour == "malformed":
            self._send(handler, 200, b"this is not a chat completion")
            return
        text = answer_text(behaviour, post, sentence)
        reply = {"id": "x", "object": "chat.completion", "model": body.get("model"),
                 "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                              "finish_reason": "stop"}]}
        self._send(handler, 200, json.dumps(reply, ensure_ascii=False).encode("utf-8"))

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, code: int, payload: bytes, headers: dict | None = None) -> None:
        try:
            handler.send_response(code)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(payload)))
            for name, value in (headers or {}).items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout): nothing to answer
            pass
