"""The Ray Serve deployment: one replica holds the model and answers the HTTP API through a FastAPI ingress.

Routes (docs/serving.md): `POST /v1/analyze`, `POST /v1/chat/completions` (stream false or true),
`GET /v1/models`, `GET /healthz`, `GET /` (the analyst page). In front of them, `RequestGuard` checks the token
and the body size before anything is parsed. Non-streamed generation goes through the replica's `Batcher`
(`mentalglm.serve.batcher`), so concurrent requests on a replica share `generate` calls (a batch is formed when the
model is free, a lone request does not wait), and a request that makes generation fail fails alone (500); streamed
chats run on the replica's stream pool, capped by `serve.max_concurrent_streams` (503 beyond it). `check_health`
lets Serve replace a replica whose model no longer answers.

Post text is never logged: logs carry routes, status codes, sizes and timings only.
"""


import asyncio
import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from ray import serve
from starlette.exceptions import HTTPException

from mentalglm.config.serve import ServeConfig
from mentalglm.model.inference import GenerationEngine, GenerationRequest, GenerationResult
from mentalglm.serve.analysis import analyze_answer
from mentalglm.serve.auth import serving_token
from mentalglm.serve.batcher import Batcher
from mentalglm.serve.guard import RequestGuard, error_body
from mentalglm.serve.page import page
from mentalglm.serve.schemas import AnalyzeRequest, AnalyzeResponse, ChatRequest, ErrorResponse
from mentalglm.serve.streaming import StreamSlots, chat_events
from mentalglm.tasks import SCORED_TASKS, render_instruction

log = logging.getLogger("mentalglm.serve")
_ERRORS: dict = {code: {"model": ErrorResponse} for code in (401, 404, 413, 422, 500, 503, 504)}

api = FastAPI(title="MentalGLM", version="0.1",
              description="Explainable mental-health analysis of Chinese social-media posts: cognitive "
                          "distortion, suicide risk and suicide risk level, each with an explanation.")


def _error(status: int, message: str, kind: str) -> Response:
    return Response(error_body(status, message, kind), status_code=status, media_type="application/json")


@api.exception_handler(RequestValidationError)
async def _invalid_request(request: Request, exc: RequestValidationError) -> Response:
    # Only locations and messages: pydantic's `input` would echo the post back into logs and traces.
    problems = [".".join(str(p) for p in e.get("loc", ())) + ": " + str(e.get("msg", "invalid"))
                for e in exc.errors()]
    return _error(422, "; ".join(problems) or "invalid request", "invalid_request_error")


@api.exception_handler(HTTPException)
async def _http_error(request: Request, exc: HTTPException) -> Response:
    if exc.status_code == 400:  # Starlette could not read the body (bytes that are not UTF-8 JSON)
        return _error(422, f"body: {exc.detail} (expected a UTF-8 JSON object)", "invalid_request_error")
    kind = {401: "authentication_error", 404: "not_found_error", 413: "request_too_large", 500: "server_error",
            503: "overloaded_error", 504: "timeout_error"}.get(exc.status_code, "invalid_request_error")
    return _error(exc.status_code, str(exc.detail), kind)


@serve.deployment(name="MentalGLM")
@serve.ingress(api)
class MentalGLMServer:
    """One replica: the model, its batcher and the routes."""

    def __init__(self, config: dict, checkpoint: str | None, model_id: str):
        cfg = ServeConfig.model_validate(config)
        self.settings = cfg.serve
        # read here, on the replica's node, never passed in a config (see mentalglm.serve.auth)
        self.token = serving_token(self.settings)
        self.model_id = model_id
        self.base_model = cfg.model.name_or_path
        self.zero_shot = checkpoint is None if self.settings.zero_shot is None else self.settings.zero_shot
        threads = self.settings.torch_threads or max(1, int(self.settings.cpus_per_replica))
        self.engine = GenerationEngine.load(cfg.model, checkpoint, self.settings.merge_adapter,
                                            use_gpu=self.settings.gpus_per_replica > 0, threads=threads)
        self.batcher = Batcher(self._run_batch, self.settings.max_batch_size, self.settings.batch_wait_timeout_s,
                               self.settings.batch_wait_when_idle)
        # one thread per batch and per stream, apart from asyncio's default pool (prompt encoding, probes)
        self._batch_pool = ThreadPoolExecutor(1, thread_name_prefix="mentalglm-batch")
        self._stream_pool = ThreadPoolExecutor(self.settings.max_concurrent_streams,
                                               thread_name_prefix="mentalglm-stream")
        self._streams = StreamSlots(self.settings.max_concurrent_streams)
        self._healthy_at = time.monotonic()
        self._probe_lock = asyncio.Lock()
        self.created = int(time.time())
        self.failed_requests = 0

    def __serve_build_asgi_app__(self):
        """What Serve serves: the routes behind the guard (header size, Host, token, body size)."""
        return RequestGuard.for_settings(self.app, self.token, self.settings)

    async def check_health(self) -> None:
        """Serve's periodic check: a one-token generation, skipped while batches keep succeeding. Raising
        makes Serve replace this replica."""
        if time.monotonic() - self._healthy_at < self.settings.health_check_period_s:
            return
        async with self._probe_lock:
            try:
                await asyncio.to_thread(self.engine.probe)
            except Exception as exc:
                log.error("health check failed: %s: %s", exc.__class__.__name__, exc)
                raise
            self._healthy_at = time.monotonic()

    async def _run_batch(self, requests: list[GenerationRequest]) -> list[GenerationResult | Exception]:
        # generate blocks for the whole batch; in a thread, the event loop keeps admitting the next requests
        loop = asyncio.get_running_loop()
        answers = await loop.run_in_executor(self._batch_pool, self.engine.generate_isolated, requests)
        failed = sum(isinstance(a, Exception) for a in answers)
        self.failed_requests += failed
        if failed < len(answers):
            self._healthy_at = time.monotonic()
        return answers

    async def _generate(self, requests: list[GenerationRequest]) -> list[GenerationResult]:
        try:
            answers = await asyncio.wait_for(asyncio.gather(*(self.batcher.submit(r) for r in requests)),
                                             timeout=self.settings.request_timeout_s)
        except asyncio.TimeoutError:
            raise HTTPException(504, f"generation took longer than {self.settings.request_timeout_s:g} s "
                                     "(serve.request_timeout_s)") from None
        finally:
            # timed out or client gone: their rows stop at the next token instead of running to max_tokens
            for request in requests:
                request.cancel.set()
        for answer in answers:
            if isinstance(answer, Exception):
                log.warning("a request's generation failed: %s", answer.__class__.__name__)
                raise HTTPException(500, f"generation failed for this request ({answer.__class__.__name__}); "
                                         "other requests were not affected")
        return answers

    async def _encode(self, function, *args):
        # templating and tokenising a long prompt takes milliseconds: off the event loop
        return await asyncio.to_thread(function, *args)

    # ------------------------------------------------------------------ routes
    @api.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page(self) -> HTMLResponse:
        """The analyst page."""
        html, headers = page()
        return HTMLResponse(html, headers=headers)

    @api.get("/healthz")
    async def healthz(self) -> dict:
        """Liveness, what the page needs to know (model id, tasks, limits, whether a token is required), and this
        replica's batching counts (generate calls, requests they answered, the largest batch)."""
        return {"status": "ok", "model": self.model_id, "tasks": list(SCORED_TASKS),
                "max_post_chars": self.settings.max_post_chars, "auth_required": self.token is not None,
                "max_batch_size": self.settings.max_batch_size,
                "batches": {**self.batcher.counts, "failed_requests": self.failed_requests},
                "streams": {"active": self._streams.active, "limit": self._streams.cap}}

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
        instructions = [render_instruction(task, body.post, self.zero_shot) for task in tasks]
        prompts = await self._encode(lambda: [self.engine.instruction_prompt(text) for text in instructions])
        requests = [GenerationRequest(prompt, self.settings.max_new_tokens) for prompt in prompts]
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
        field = "max_completion_tokens" if body.max_completion_tokens else "max_tokens"
        max_tokens = body.max_completion_tokens or body.max_tokens or self.settings.max_new_tokens
        for name, value in ((field, max_tokens), ("min_tokens", body.min_tokens)):
            if value > limit:
                raise HTTPException(422, f"body.{name}: {value} is over the limit {limit} (serve.max_tokens_limit)")
        if body.min_tokens > max_tokens:
            raise HTTPException(422, f"body.min_tokens: {body.min_tokens} is more than {field} {max_tokens}")
        messages = [{"role": m.role, "content": m.text()} for m in body.messages]
        if sum(len(m["content"]) for m in messages) > self.settings.max_post_chars * 4:
            raise HTTPException(413, "messages are longer than the service accepts (serve.max_post_chars x 4)")
        prompt = await self._encode(self.engine.chat_prompt, messages)
        prompt_tokens = len(prompt)
        if prompt_tokens > self.settings.max_prompt_tokens:
            raise HTTPException(413, f"prompt has {prompt_tokens} tokens; the limit is "
                                     f"{self.settings.max_prompt_tokens} (serve.max_prompt_tokens)")
        context = self.engine.context_limit
        if context is not None and prompt_tokens + max_tokens > context:
            raise HTTPException(413, f"prompt ({prompt_tokens} tokens) + max_tokens ({max_tokens}) is over the "
                                     f"model's context of {context} tokens")
        request = GenerationRequest(prompt, max_tokens, body.min_tokens, body.temperature, body.top_p)
        completion_id = "chatcmpl-" + uuid.uuid4().hex
        if body.stream:
            slot = self._streams.take()
            if slot is None:
                raise HTTPException(503, f"{self._streams.cap} streamed answers are already being generated "
                                         "on this replica (serve.max_concurrent_streams); retry later")
            events = chat_events(self.engine, request, self._stream_pool, slot, completion_id, self.model_id,
                                 self.settings.request_timeout_s, body.include_usage())
            return StreamingResponse(events, media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
        (answer,) = await self._generate([request])
        log.info("chat: %d prompt tokens, %d completion tokens", answer.prompt_tokens, answer.completion_tokens)
        extra = {"prompt_token_ids": list(prompt)} if body.return_token_ids else {}
        return {**extra, "id": completion_id, "object": "chat.completion", "created": int(time.time()),
                "model": self.model_id,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": answer.text},
                             "finish_reason": answer.finish_reason}],
                "usage": {"prompt_tokens": answer.prompt_tokens, "completion_tokens": answer.completion_tokens,
                          "total_tokens": answer.prompt_tokens + answer.completion_tokens}}
