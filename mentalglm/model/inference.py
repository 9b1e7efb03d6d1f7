"""The one inference layer: load base model + adapter, and answer prompts, batched or streamed.

Evaluation, serving and val F1 during training all answer through `GenerationEngine.generate` (the one generation
loop): left-padded batches of prompt ids, KV cache, GLM-4's stop tokens, and a per-row stopping criterion so each
request can be cancelled (client gone, timed out) at the next token. Requests of one batch may ask for different
lengths and temperatures: greedy requests share one `generate` call, sampled ones are grouped by (temperature,
top_p), and each answer is cut at its own `max_new_tokens`. `generate_responses` is the same loop for a list of
instructions (sorted by length so each batch wastes little padding).

Serving adds two things on top: `generate_isolated`, where a request that makes generation fail fails alone (its
group is answered again row by row), and `stream_tokens`, one answer token by token through a callback, ending
with the same `GenerationResult` the batched path gives. `probe` is a one-token generation for health checks.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path
from typing import Any, Callable, Sequence

from mentalglm.config.schema import ModelConfig
from mentalglm.model.chat_format import stop_token_ids
from mentalglm.data.prompt_ids import left_pad, prompt_encoder


SAMPLING_EPS = 1e-5


class UnhealthyModel(RuntimeError):
    """The model gave no finite logits for a fixed prompt (see `GenerationEngine.probe`)."""


@dataclass(frozen=True)
class GenerationRequest:
    """One prompt (token ids in the chat format, from `instruction_prompt`/`chat_prompt`) and how to answer it."""

    prompt_ids: tuple[int, ...]
    max_new_tokens: int
    min_new_tokens: int = 0
    temperature: float = 0.0
    top_p: float = 1.0
    cancel: threading.Event = field(default_factory=threading.Event, compare=False, repr=False)

    @property
    def greedy(self) -> bool:
        """Temperatures below 1e-5 mean greedy decoding (as in vLLM): dividing logits by a smaller one overflows
        to inf and the sampler fails on the NaN probabilities that follow."""
        return self.temperature < SAMPLING_EPS

    @property
    def sampling_key(self) -> tuple[float, float]:
        """Requests with equal keys can share a `generate` call."""
        return (0.0, 1.0) if self.greedy else (self.temperature, self.top_p)


@dataclass(frozen=True)
class GenerationResult:
    """The answer text, token counts, and why it ended (`stop`: a stop token; `length`: max_new_tokens)."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str


class _Cancelled:
    """A stopping criterion that ends each row once its request's event is set (client gone or timed out)."""

    def __init__(self, events: list[threading.Event]):
        self.events = events

    def __call__(self, input_ids, scores, **kwargs):
        import torch

        return torch.tensor([e.is_set() for e in self.events], dtype=torch.bool, device=input_ids.device)


class _TokenCallback:
    """A `generate` streamer that hands each new token id of a one-row generation to a callback (the first
    `put` is the prompt, which is skipped)."""

    def __init__(self, on_token: Callable[[int], None]):
        self.on_token, self.prompt_seen = on_token, False

    def put(self, value) -> None:
        if not self.prompt_seen:
            self.prompt_seen = True
            return
        for token in value.reshape(-1).tolist():
            self.on_token(int(token))

    def end(self) -> None:
        pass


def load_for_generation(model_cfg: ModelConfig, adapter: str | Path | None, merge: bool = True,
                        device: str = "cpu") -> tuple[Any, Any]:
    """(model, tokenizer) ready for generation: base model with the adapter (a published folder or URI, verified;
    merged into the weights by default, for speed), in eval mode. The tokenizer saved beside the adapter wins
    over the base model's.

    Raises:
        ModelLoadError: the base model cannot be loaded.
        AdapterError: `adapter` is not a complete, published adapter folder (the message names the file).
    """
    from mentalglm.model.loading import load_model, load_tokenizer, warn_if_system_prompt_differs
    from mentalglm.runs.publish import resolve_adapter

    tok_cfg = model_cfg
    if adapter is not None:
        adapter = resolve_adapter(adapter)  # verified; a URI is fetched into a cache keyed by its manifest
        warn_if_system_prompt_differs(Path(adapter), model_cfg.system_prompt)
        if (Path(adapter) / "tokenizer_config.json").exists():
            tok_cfg = model_cfg.model_copy(update={"name_or_path": str(adapter)})
    tokenizer = load_tokenizer(tok_cfg)
    model = load_model(model_cfg)
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter))
        if merge:
            model = model.merge_and_unload()
    return model.to(device).eval(), tokenizer


class GenerationEngine:
    """A model and its tokenizer on one device, answering `GenerationRequest`s."""

    def __init__(self, model: Any, tokenizer: Any, synced_gpus: bool = False):
        """Args: a loaded causal LM (eval mode) and its tokenizer; `synced_gpus` keeps ZeRO-3 ranks stepping
        together while they generate."""
        self.model, self.tokenizer, self.synced_gpus = model, tokenizer, synced_gpus
        self.device = next(model.parameters()).device
        self.encoder = prompt_encoder(tokenizer)
        self.stops = stop_token_ids(tokenizer)

    @classmethod
    def load(cls, model_cfg: ModelConfig, checkpoint: str | Path | None, merge: bool = True, use_gpu: bool = False,
             threads: int | None = None) -> "GenerationEngine":
        """Load base model + adapter (see `load_for_generation`) into an engine."""
        import torch

        if threads:
            torch.set_num_threads(threads)
        return cls(*load_for_generation(model_cfg, checkpoint, merge, "cuda" if use_gpu else "cpu"))

    # ------------------------------------------------------------------ prompts
    def instruction_prompt(self, instruction: str) -> tuple[int, ...]:
        """The chat-format prompt ids for one user instruction (what training and evaluation use)."""
        return tuple(self.encoder.instruction_ids(instruction))

    def chat_prompt(self, messages: Sequence[dict[str, str]]) -> tuple[int, ...]:
        """The chat-format prompt ids for an OpenAI message list; message contents are plain text, so a message
        holding `<|assistant|>` cannot open a turn."""
        return tuple(self.encoder.prompt_ids(list(messages)))

    # ------------------------------------------------------------------ generation
    def _generate_kwargs(self, request: GenerationRequest, max_new_tokens: int) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"max_new_tokens": max_new_tokens, "use_cache": True, "eos_token_id": self.stops,
                                  "pad_token_id": self.tokenizer.pad_token_id, "synced_gpus": self.synced_gpus}
        if request.min_new_tokens:
            kwargs["min_new_tokens"] = request.min_new_tokens
        if not request.greedy:
            kwargs.update(do_sample=True, temperature=request.temperature, top_p=request.top_p)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None)
        return kwargs

    @property
    def context_limit(self) -> int | None:
        """The most positions (prompt + answer) the model was built for, when its config says."""
        return getattr(self.model.config, "max_position_embeddings", None)

    def _groups(self, requests: Sequence[GenerationRequest]) -> list[list[int]]:
        """Indices of `requests` that can share one `generate` call (same sampling and min_new_tokens)."""
        key = lambda i: (requests[i].sampling_key, requests[i].min_new_tokens)  # noqa: E731
        return [list(rows) for _, rows in groupby(sorted(range(len(requests)), key=key), key=key)]

    def _inputs(self, prompts: Sequence[Sequence[int]]) -> dict[str, Any]:
        """`generate`'s input_ids and attention_mask for prompts, left-padded, on the model's device."""
        input_ids, attention_mask = left_pad(prompts, self.tokenizer.pad_token_id)
        return {"input_ids": input_ids.to(self.device), "attention_mask": attention_mask.to(self.device)}

    def _generate_rows(self, rows: Sequence[GenerationRequest], **extra: Any) -> list[GenerationResult]:
        """One `generate` call for requests that share sampling settings (`extra`: more `generate` arguments)."""
        import torch
        from transformers import StoppingCriteriaList

        longest = max(r.max_new_tokens for r in rows)
        enc = self._inputs([r.prompt_ids for r in rows])
        cancelled = _Cancelled([r.cancel for r in rows])
        with torch.no_grad():
            out = self.model.generate(**enc, **self._generate_kwargs(rows[0], longest),
                                      stopping_criteria=StoppingCriteriaList([cancelled]), **extra)
        new = out[:, enc["input_ids"].shape[1]:].tolist()
        prompt_lengths = enc["attention_mask"].sum(dim=1).tolist()
        return [self._finish(new[i], r.max_new_tokens, int(prompt_lengths[i])) for i, r in enumerate(rows)]

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        """Answers to `requests`, in order; one `generate` call per sampling group (and min_new_tokens).
        A request whose `cancel` event is set stops generating at the next token. Any failure fails the call."""
        results: list[GenerationResult | None] = [None] * len(requests)
        for rows in self._groups(requests):
            for i, result in zip(rows, self._generate_rows([requests[i] for i in rows])):
                results[i] = result
        return results  # type: ignore[return-value]

    def generate_isolated(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult | Exception]:
        """Like `generate`, but a failure stays with the request that caused it: a group whose call fails is
        answered again one request at a time, and a request that fails alone gets its exception in its place."""
        results: list[GenerationResult | Exception | None] = [None] * len(requests)
        for rows in self._groups(requests):
            try:
                answers: list[GenerationResult | Exception] = list(
                    self._generate_rows([requests[i] for i in rows]))
            except Exception as exc:  # noqa: BLE001 - a lone request fails with it; a group is retried row by row
                answers = [exc] if len(rows) == 1 else [self._alone(requests[i]) for i in rows]
            for i, answer in zip(rows, answers):
                results[i] = answer
        return results  # type: ignore[return-value]

    def _alone(self, request: GenerationRequest) -> GenerationResult | Exception:
        try:
            return self._generate_rows([request])[0]
        except Exception as exc:  # noqa: BLE001 - handed back as this request's answer
            return exc

    def _finish(self, token_ids: list[int], limit: int, prompt_tokens: int) -> GenerationResult:
        # a row that ended before the batch's longest is padded after its stop token, so it is cut there
        kept = self.answer_tokens(token_ids, limit)
        stopped = len(kept) < len(token_ids) and token_ids[len(kept)] in self.stops
        return GenerationResult(self.decode_answer(kept), prompt_tokens, len(kept), "stop" if stopped else "length")

    def stream_tokens(self, request: GenerationRequest, on_token: Callable[[int], None]) -> GenerationResult:
        """Generate one answer in this thread, calling `on_token` with each new token id as it is made (stop
        tokens included; `decode_answer` turns a prefix into text); returns the same result `generate` gives.
        Setting `request.cancel` ends generation at the next token.

        Raises:
            Exception: whatever generation raised (the tokens passed to `on_token` so far stay valid).
        """
        return self._generate_rows([request], streamer=_TokenCallback(on_token))[0]

    def answer_tokens(self, token_ids: Sequence[int], limit: int) -> list[int]:
        """The tokens of an answer that count as its text: up to the first stop token, at most `limit`."""
        kept: list[int] = []
        for token in token_ids[:limit]:
            if token in self.stops:
                break
            kept.append(token)
        return kept

    def decode_answer(self, token_ids: Sequence[int]) -> str:
        """The text of answer tokens (from `answer_tokens`), as `generate` returns it."""
        # leading whitespace only, as streaming can only drop what comes first
        return self.tokenizer.decode(list(token_ids), skip_special_tokens=True).lstrip()

    def probe(self) -> None:
        """A one-token greedy generation on a fixed prompt: proves the model still runs and gives finite logits.

        Raises:
            UnhealthyModel: non-finite logits (e.g. corrupted weights).
            Exception: whatever the forward pass raised.
        """
        import torch

        with torch.no_grad():
            out = self.model.generate(**self._inputs([self.instruction_prompt("你好")]), max_new_tokens=1,
                                      do_sample=False, temperature=None, top_p=None, output_scores=True,
                                      return_dict_in_generate=True, pad_token_id=self.tokenizer.pad_token_id)
        if not bool(torch.isfinite(out.scores[0]).all()):
            raise UnhealthyModel("the model's logits for a fixed prompt are not finite")


def generate_responses(model: Any, tokenizer: Any, instructions: Sequence[str], batch_size: int = 8,
                       max_new_tokens: int = 128, progress: bool = False, synced_gpus: bool = False) -> list[str]:
    """Greedy answers to `instructions` (user turns, rendered in the chat format), in order.

    Prompts are sorted by length so each left-padded batch wastes little; every batch goes through
    `GenerationEngine.generate`.
    """
    from tqdm import tqdm

    engine = GenerationEngine(model, tokenizer, synced_gpus)
    requests = [GenerationRequest(engine.instruction_prompt(text), max_new_tokens) for text in instructions]
    order = sorted(range(len(requests)), key=lambda i: -len(requests[i].prompt_ids))
    answers: list[str] = [""] * len(requests)
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    for batch in tqdm(batches, desc="generating", unit="batch", disable=not progress):
        for i, result in zip(batch, engine.generate([requests[i] for i in batch])):
            answers[i] = result.text
    return answers
