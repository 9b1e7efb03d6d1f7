"""Score through a running MentalGLM service: its OpenAI-compatible chat route answers each instruction."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Sequence

from mentalglm.config.evaluate import EvaluateConfig


class EndpointError(RuntimeError):
    """The service at --endpoint refused a request or answered something that is not a chat completion."""


def chat_once(url: str, instruction: str, max_tokens: int, timeout: float = 120.0) -> str:
    """The assistant text of one greedy `POST {url}/v1/chat/completions` call.

    Raises:
        EndpointError: the service is unreachable, answered with an error status, or an unexpected body.
    """
    body = json.dumps({"messages": [{"role": "user", "content": instruction}], "max_tokens": max_tokens,
                       "temperature": 0, "stream": False}).encode("utf-8")
    headers = {"Content-Type": "application/json"}
    token = os.environ.get("MENTALGLM_API_TOKEN", "").strip()
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url.rstrip("/") + "/v1/chat/completions", data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            payload = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        hint = " (set MENTALGLM_API_TOKEN to the service's token)" if exc.code == 401 else ""
        raise EndpointError(f"--endpoint {url}: HTTP {exc.code}{hint} {exc.read()[:200]!r}") from None
    except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
        raise EndpointError(f"--endpoint {url}: no answer ({exc})") from None
    try:
        return payload["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise EndpointError(f"--endpoint {url}: unexpected response {str(payload)[:200]}") from None


def endpoint_generator(url: str, cfg: EvaluateConfig,
                       concurrency: int | None = None) -> Callable[[Sequence[str]], list[str]]:
    """An answer source (`mentalglm.model.answer_sources.AnswerSource`) for `evaluate()` that sends each
    instruction to the service, `concurrency` at a time (default: `evaluate.batch_size`, so the service can batch
    them)."""

    def generate(instructions: Sequence[str]) -> list[str]:
        with ThreadPoolExecutor(max_workers=concurrency or cfg.evaluate.batch_size) as pool:
            return list(pool.map(lambda text: chat_once(url, text, cfg.evaluate.max_new_tokens), instructions))

    return generate
