"""Score through a running MentalGLM service: its OpenAI-compatible chat route answers each instruction."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Sequence

from mentalglm.chat.client import ChatClient, ChatSettings
from mentalglm.config.evaluate import EvaluateConfig
from mentalglm.errors import EndpointError


def endpoint_client(url: str, max_tokens: int, timeout: float = 120.0) -> ChatClient:
    """A greedy chat client for the service at `url`, with MENTALGLM_API_TOKEN as its bearer token if set."""
    token = os.environ.get("MENTALGLM_API_TOKEN", "").strip() or None
    return ChatClient(ChatSettings(url, temperature=0.0, max_tokens=max_tokens, timeout_s=timeout, max_retries=2,
                                   backoff_s=0.5), token)


def chat_once(client: ChatClient, instruction: str) -> str:
    """The assistant text for one instruction (a user turn).

    Raises:
        EndpointError: the service is unreachable (after retries), refused the request, or answered a body that is
            not a chat completion.
    """
    reply = client.complete([{"role": "user", "content": instruction}])
    if reply.text is not None:
        return reply.text
    hint = " (set MENTALGLM_API_TOKEN to the service's token)" if reply.status == 401 else ""
    status = f", HTTP {reply.status}" if reply.status else ""
    raise EndpointError(f"evaluate.endpoint {client.settings.base_url}: {reply.failure}{status}{hint}")


def endpoint_generator(url: str, cfg: EvaluateConfig,
                       concurrency: int | None = None) -> Callable[[Sequence[str]], list[str]]:
    """An answer source (`mentalglm.model.answer_sources.AnswerSource`) for `evaluate()` that sends each
    instruction to the service, `concurrency` at a time (default: `evaluate.batch_size`, so the service can batch
    them)."""

    client = endpoint_client(url, cfg.evaluate.max_new_tokens)

    def generate(instructions: Sequence[str]) -> list[str]:
        with ThreadPoolExecutor(max_workers=concurrency or cfg.evaluate.batch_size) as pool:
            return list(pool.map(lambda text: chat_once(client, text), instructions))

    return generate
