"""Streamed chat answers (`stream: true`): admission by a per-replica cap, and the server-sent events.

Each stream is one `generate` call on a thread of the replica's stream pool (`serve.max_concurrent_streams`
threads) and holds a slot until its response ends; a request over the cap gets 503 before anything is sent. Token ids travel from that thread to the event
loop, which turns them into text deltas that join to exactly the text the non-streamed path gives. A generation
that fails or times out ends with an OpenAI-style error event and `[DONE]`, never with `finish_reason: "stop"`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, AsyncIterator

from mentalglm.model.inference import GenerationEngine, GenerationRequest, GenerationResult

log = logging.getLogger("mentalglm.serve")
_END = object()


class StreamSlots:
    """At most `cap` streams at once; `take()` gives a slot or None (the caller answers 503)."""

    def __init__(self, cap: int):
        self.cap, self.active = cap, 0
        self._lock = threading.Lock()

    def take(self) -> "Slot | None":
        with self._lock:
            if self.active >= self.cap:
                return None
            self.active += 1
        return Slot(self)

    def _give_back(self) -> None:
        with self._lock:
            self.active -= 1


class Slot:
    """One admitted stream; released once, when its response ends (or, if the response never started, when the
    slot is dropped)."""

    def __init__(self, slots: StreamSlots):
        self._slots, self._released = slots, False

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._slots._give_back()

    def __del__(self) -> None:
        self.release()


def _event(payload: dict[str, Any]) -> str:
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"


def _error_event(status: int, message: str, kind: str) -> str:
    return _event({"error": {"message": message, "type": kind, "code": status}})


def _text_so_far(engine: GenerationEngine, tokens: list[int], max_new_tokens: int, sent: str) -> str | None:
    """The answer's text after `tokens`, or None while it cannot be sent yet: after a stop token (the text is
    complete; wait for generation to end), or mid UTF-8 sequence (it decodes to U+FFFD; wait for the next token)."""
    kept = engine.answer_tokens(tokens, max_new_tokens)
    if len(kept) < len(tokens):
        return None
    text = engine.decode_answer(kept)
    return None if text.endswith("\ufffd") or not text.startswith(sent) else text


def _usage(result: GenerationResult) -> dict[str, int]:
    return {"prompt_tokens": result.prompt_tokens, "completion_tokens": result.completion_tokens,
            "total_tokens": result.prompt_tokens + result.completion_tokens}


async def chat_events(engine: GenerationEngine, request: GenerationRequest, pool: ThreadPoolExecutor, slot: Slot,
                      completion_id: str, model_id: str, timeout_s: float,
                      include_usage: bool = False) -> AsyncIterator[str]:
    """The server-sent events of one streamed chat completion (see the module docstring)."""
    loop = asyncio.get_running_loop()
    created = int(time.time())
    queue: asyncio.Queue = asyncio.Queue()

    def envelope(choices: list, **extra: Any) -> str:
        return _event({"id": completion_id, "object": "chat.completion.chunk", "created": created,
                       "model": model_id, "choices": choices, **extra})

    def chunk(delta: dict, finish: str | None = None) -> str:
        return envelope([{"index": 0, "delta": delta, "finish_reason": finish}])

    def on_token(token: int) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, token)

    future = None
    try:
        yield chunk({"role": "assistant", "content": ""})
        future = loop.run_in_executor(pool, engine.stream_tokens, request, on_token)
        future.add_done_callback(lambda _: queue.put_nowait(_END))
        deadline = time.monotonic() + timeout_s
        tokens, sent = [], ""  # the answer's tokens so far, the text the client has
        while True:
            try:
                item = await asyncio.wait_for(queue.get(), max(deadline - time.monotonic(), 0.001))
            except asyncio.TimeoutError:
                request.cancel.set()
                yield _error_event(504, f"generation took longer than {timeout_s:g} s (serve.request_timeout_s)",
                                   "timeout_error")
                yield "data: [DONE]\n\n"
                return
            if item is _END:
                break
            tokens.append(item)
            text = _text_so_far(engine, tokens, request.max_new_tokens, sent)
            if text is not None and len(text) > len(sent):
                yield chunk({"content": text[len(sent):]})
                sent = text
        try:
            result: GenerationResult = future.result()
        except Exception as exc:  # noqa: BLE001 - reported to the client as an error event
            log.warning("stream %s: generation failed (%s)", completion_id, exc.__class__.__name__)
            yield _error_event(500, f"generation failed ({exc.__class__.__name__}); the answer above is "
                                    "incomplete", "server_error")
            yield "data: [DONE]\n\n"
            return
        if not result.text.startswith(sent):  # cannot happen with a prefix-stable decoder; say so, send no other
            log.warning("stream %s: streamed text is not a prefix of the answer", completion_id)
        elif len(result.text) > len(sent):
            yield chunk({"content": result.text[len(sent):]})
        yield chunk({}, result.finish_reason)
        if include_usage:
            yield envelope([], usage=_usage(result))
        yield "data: [DONE]\n\n"
    finally:
        request.cancel.set()  # the client may have gone: stop generating for it
        slot.release()
