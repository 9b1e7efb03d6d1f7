"""The Ray Serve deployment: one replica holds the model and answers the HTTP API through a FastAPI ingress.

Routes (the README's Serving section): `POST /v1/analyze`, `POST /v1/chat/completions` (stream false or true),
`GET /v1/models`, `GET /healthz`, `GET /` (the analyst page). Generation goes through `@serve.batch`, so
concurrent requests on a replica share `generate` calls; streamed chats run on their own.

Post text is never logged: logs carry routes, status codes, sizes and timings only.
"""


import asyncio
import hmac
import json
import logging
import os
import time
import uuid
from importlib import resources
from typing import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
from ray import serve
from starlette.exceptions import HTTPException

from mentalglm.config.serve import ServeConfig
from mentalglm.serve.analysis import analyze_answer
from mentalglm.model.inference import GenerationEngine, GenerationRequest, GenerationResult, StreamStats
from mentalglm.serve.schemas import AnalyzeRequest, AnalyzeResponse, ChatRequest, ErrorResponse
from mentalglm.tasks import SCORED_TASKS, render_instruction

log = logging.getLogger("mentalglm.serve")
TOKEN_ENV = "MENTALGLM_API_TOKEN"
_ERRORS: dict = {code: {"model": ErrorResponse} for code in (401, 404, 413, 422, 503, 504)}

api = FastAPI(title="MentalGLM", version="0.1",
              description="Explainable mental-health analysis of Chinese social-media posts: cognitive "
                          "distortion, suicide risk and suicide risk level, each with an explanation.")


def _error(status: int, message: str, kind: str) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"error": {"message": message, "type": kind, "code": status}}, status_code=status,
                        headers=headers)


@api.exception_handler(RequestValidationError)
async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    # Only locations and messages: pydantic's `input` would echo the post back into logs and traces.
    problems = [".".join(str(p) for p in e.get("loc", ())) + ": " + str(e.get("msg", "invalid"))
                for e in exc.errors()]
    return _error(422, "; ".join(problems) or "invalid request", "invalid_request_error")


@api.exception_handler(HTTPException)
async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
    if exc.status_code == 400:  # Starlette could not read the body (bytes that are not UTF-8 JSON)
        return _error(422, f"body: {exc.detail} (expected a UTF-8 JSON object)", "invalid_request_error")
    kind = {401: "authentication_error", 404: "not_found_error", 413: "request_too_large",
            503: "overloaded_error", 504: "timeout_error"}.get(exc.status_code, "invalid_request_error")
    return _error(exc.status_code, str(exc.detail), kind)


@api.middleware("http")
async def _require_token(request: Request, call_next):
    """With MENTALGLM_API_TOKEN set, every /v1/ route needs `Authorization: Bearer <token>` (checked before
    the body is parsed, so an unauthenticated caller learns nothing about the schema)."""
    token = os.environ.get(TOKEN_ENV)
    path = request.scope.get("path", "")
    root = request.scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root):]
    if token and path.startswith("/v1/"):
        given = request.headers.get("authorization", "")
        scheme, _, value = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), token.encode()):
            return _error(401, f"missing or wrong bearer token ({TOKEN_ENV} is set on the server)",
                          "authentication_error")
    return await call_next(request)


@serve.deployment(name="MentalGLM")
@serve.ingress(api)
class MentalGLMServer:
    """One replica: the model, its batcher and the routes."""

    def __init__(self, config: dict, checkpoint: str | None, model_id: str):
        cfg = ServeConfig.model_validate(config)
        self.settings = cfg.serve
        self.model_id = model_id
        self.base_model = cfg.model.name_or_path
        threads = self.settings.torch_threads or max(1, int(self.settings.cpus_per_replica))
        self.engine = GenerationEngine.load(cfg.model, checkpoint, self.settings.merge_adapter,
                                            use_gpu=self.settings.gpus_per_replica > 0, threads=threads)
        self._generate_batch.set_max_batch_size(self.settings.max_batch_size)
        self._generate_batch.set_batch_wait_timeout_s(self.settings.batch_wait_timeout_s)
        self.created = int(time.time())
        self.batches = {"calls": 0, "requests": 0, "largest": 0}

    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.01)
    async def _generate_batch(self, requests: list[GenerationRequest]) -> list[GenerationResult]:
        self.batches["calls"] += 1
        self.batches["requests"] += len(requests)
        self.batches["largest"] = max(self.batches["largest"], len(requests))
        # generate() blocks for the whole batch; in a thread, the event loop keeps admitting the next batch
        return await asyncio.to_thread(self.engine.generate, requests)

    async def _generate(self, requests: list[GenerationRequest]) -> list[GenerationResult]:
        try:
            return await asyncio.wait_for(asyncio.gather(*(self._generate_batch(r) for r in requests)),
                                          timeout=self.settings.request_timeout_s)
        except asyncio.TimeoutError:
            raise HTTPException(504, f"generation took longer than {self.settings.request_timeout_s:g} s "
                                     "(serve.request_timeout_s)") from None
        finally:
            # timed out or client gone: their rows stop at the next token instead of running to max_tokens
            for request in requests:
                request.cancel.set()

    # ------------------------------------------------------------------ routes
    @api.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page(self) -> HTMLResponse:
        """The analyst page."""
        return HTMLResponse(resources.files("mentalglm.serve").joinpath("static/index.html").read_text("utf-8"))

    @api.get("/healthz")
    async def healthz(self) -> dict:
        """Liveness, what the page needs to know (model id, tasks, limits, whether a token is required), and this
        replica's batching counts (generate calls, requests they answered, the largest batch)."""
        return {"status": "ok", "model": self.model_id, "tasks": list(SCORED_TASKS),
                "max_post_chars": self.settings.max_post_chars, "auth_required": bool(os.environ.get(TOKEN_ENV)),
                "max_batch_size": self.settings.max_batch_size, "batches": dict(self.batches)}

    @api.get("/v1/models", responses={401: {"model": ErrorResponse}})
    async def models(self) -> dict:
        """The one model this application serves (OpenAI list format)."""
        return {"object": "list", "data": [{"id": self.model_id, "object": "model", "created": self.created,
                                            "owned_by": "mentalglm", "root": self.base_model}]}

    @api.post("/v1/analyze", response_model=AnalyzeResponse, responses=_ERRORS)
    async def analyze(self, body: AnalyzeRequest) -> dict:
        """Labels, explanation, grounded evidence and risk alert for each asked task (all three by default)."""
        start = time.perf_counter()
        if len(body.post) > self.settings.max_post_chars:
            raise HTTPException(413, f"post has {len(body.post)} characters; the limit is "
                                     f"{self.settings.max_post_chars} (serve.max_post_chars)")
        tasks = body.tasks()
        requests = [GenerationRequest(self.engine.instruction_prompt(render_instruction(task, body.post)),
                                      self.settings.max_new_tokens) for task in tasks]
        answers = await self._generate(requests)
        results = [analyze_answer(task, body.post, answer.text) for task, answer in zip(tasks, answers)]
        latency = (time.perf_counter() - start) * 1000
        log.info("analyze: %d task(s), %d chars, %.0f ms", len(tasks), len(body.post), latency)
        return {"results": results, "model": self.model_id, "latency_ms": round(latency, 1)}

    @api.post("/v1/chat/completions", responses=_ERRORS)
    async def chat_completions(self, body: ChatRequest):
        """OpenAI-compatible chat: a JSON completion, or server-sent events with `stream: true`."""
        if body.model not in (None, "", self.model_id):
            raise HTTPException(404, f"model {body.model!r} is not served here; GET /v1/models lists "
                                     f"{self.model_id!r}")
        limit = self.settings.max_tokens_limit
        max_tokens = body.max_completion_tokens or body.max_tokens or self.settings.max_new_tokens
        if max_tokens > limit or body.min_tokens > limit:
            raise HTTPException(422, f"body.max_tokens: {max_tokens} is over the limit {limit} "
                                     "(serve.max_tokens_limit)")
        messages = [{"role": m.role, "content": m.text()} for m in body.messages]
        if sum(len(m["content"]) for m in messages) > self.settings.max_post_chars * 4:
            raise HTTPException(413, "messages are longer than the service accepts (serve.max_post_chars x 4)")
        prompt = self.engine.chat_prompt(messages)
        prompt_tokens = len(prompt)
        if prompt_tokens > self.settings.max_prompt_tokens:
            raise HTTPException(413, f"prompt has {prompt_tokens} tokens; the limit is "
                                     f"{self.settings.max_prompt_tokens} (serve.max_prompt_tokens)")
        request = GenerationRequest(prompt, max_tokens, min(body.min_tokens, max_tokens), body.temperature,
                                    body.top_p)
        completion_id = "chatcmpl-" + uuid.uuid4().hex
        if body.stream:
            return StreamingResponse(self._stream(completion_id, request, prompt_tokens),
                                     media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
        (answer,) = await self._generate([request])
        log.info("chat: %d prompt tokens, %d completion tokens", answer.prompt_tokens, answer.completion_tokens)
        extra = {"prompt_token_ids": list(prompt)} if body.return_token_ids else {}
        return {**extra, "id": completion_id, "object": "chat.completion", "created": int(time.time()),
                "model": self.model_id,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": answer.text},
                             "finish_reason": answer.finish_reason}],
                "usage": {"prompt_tokens": answer.prompt_tokens, "completion_tokens": answer.completion_tokens,
                          "total_tokens": answer.prompt_tokens + answer.completion_tokens}}

    async def _stream(self, completion_id: str, request: GenerationRequest,
                      prompt_tokens: int) -> AsyncIterator[str]:
        created = int(time.time())

        def chunk(delta: dict, finish: str | None = None) -> str:
            payload = {"id": completion_id, "object": "chat.completion.chunk", "created": created,
                       "model": self.model_id, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
            return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"

        stats = StreamStats()
        pieces = self.engine.stream(request, stats)
        deadline = time.monotonic() + self.settings.request_timeout_s
        finish = "stop"
        try:
            yield chunk({"role": "assistant", "content": ""})
            while True:
                remaining = deadline - time.monotonic()
                try:
                    piece = await asyncio.wait_for(asyncio.to_thread(next, pieces, None), max(remaining, 0.001))
                except asyncio.TimeoutError:
                    request.cancel.set()
                    error = {"message": f"generation took longer than {self.settings.request_timeout_s:g} s",
                             "type": "timeout_error", "code": 504}
                    yield f"data: {json.dumps({'error': error})}\n\n"
                    finish = "length"
                    break
                if piece is None:
                    break
                yield chunk({"content": piece})
            if finish == "stop" and stats.completion_tokens >= request.max_new_tokens \
                    and stats.last_token not in self.engine.stops:
                finish = "length"
            yield chunk({}, finish)
            yield "data: [DONE]\n\n"
        finally:
            request.cancel.set()  # the client may have gone: stop generating for it
