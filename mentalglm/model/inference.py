"""The one inference layer: load base model + adapter, and answer prompts, batched or streamed.

Evaluation, serving and val F1 during training all answer through `GenerationEngine.generate` (the one generation
loop): left-padded batches of prompt ids, KV cache, GLM-4's stop tokens, and a per-row stopping criterion so each
request can be cancelled (client gone, timed out) at the next token. Requests of one batch may ask for different
lengths and temperatures: greedy requests share one `generate` call, sampled ones are grouped by (temperature,
top_p), and each answer is cut at its own `max_new_tokens`. `generate_responses` is the same loop for a list of
instructions (sorted by length so each batch wastes little padding).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path
from typing import Any, Iterator, Sequence

from mentalglm.config.schema import ModelConfig
from mentalglm.model.chat_format import stop_token_ids
from mentalglm.model.prompt_ids import left_pad, prompt_encoder


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
    def sampling_key(self) -> tuple[float, float]:
        """Requests with equal keys can share a `generate` call."""
        return (0.0, 1.0) if self.temperature == 0 else (self.temperature, self.top_p)


@dataclass(frozen=True)
class GenerationResult:
    """The answer text, token counts, and why it ended (`stop`: a stop token; `length`: max_new_tokens)."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str


@dataclass
class StreamStats:
    """Filled in while an answer streams: tokens generated so far and the last token id."""

    completion_tokens: int = 0
    last_token: int | None = None


class _Cancelled:
    """A stopping criterion that ends each row once its request's event is set (client gone or timed out);
    it also counts the tokens generated, for streamed answers."""

    def __init__(self, events: list[threading.Event], prompt_length: int, stats: StreamStats | None = None):
        self.events, self.prompt_length, self.stats = events, prompt_length, stats

    def __call__(self, input_ids, scores, **kwargs):
        import torch

        if self.stats is not None:
            self.stats.completion_tokens = input_ids.shape[1] - self.prompt_length
            self.stats.last_token = int(input_ids[0, -1])
        return torch.tensor([e.is_set() for e in self.events], dtype=torch.bool, device=input_ids.device)


def load_for_generation(model_cfg: ModelConfig, adapter: str | Path | None, merge: bool = True,
                        device: str = "cpu") -> tuple[Any, Any]:
    """(model, tokenizer) ready for generation: base model with the adapter (a published folder or URI, verified;
    merged into the weights by default, for speed), in eval mode. The tokenizer saved beside the adapter wins
    over the base model's.

    Raises:
        ModelLoadError: the base model cannot be loaded.
        AdapterError: `adapter` is not a complete, published adapter folder (the message names the file).
    """
    from mentalglm.model.loading import load_model, load_tokenizer
    from mentalglm.publish import resolve_adapter

    tok_cfg = model_cfg
    if adapter is not None:
        adapter = resolve_adapter(adapter)  # verified; a URI is fetched into a cache keyed by its manifest
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
        if request.temperature > 0:
            kwargs.update(do_sample=True, temperature=request.temperature, top_p=request.top_p)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None)
        return kwargs

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        """Answers to `requests`, in order; one `generate` call per sampling group (and min_new_tokens).
        A request whose `cancel` event is set stops generating at the next token."""
        import torch
        from transformers import StoppingCriteriaList

        results: list[GenerationResult | None] = [None] * len(requests)
        order = sorted(range(len(requests)), key=lambda i: (requests[i].sampling_key, requests[i].min_new_tokens))
        for _, group in groupby(order, key=lambda i: (requests[i].sampling_key, requests[i].min_new_tokens)):
            rows = list(group)
            longest = max(requests[i].max_new_tokens for i in rows)
            input_ids, attention_mask = left_pad([requests[i].prompt_ids for i in rows], self.tokenizer.pad_token_id)
            enc = {"input_ids": input_ids.to(self.device), "attention_mask": attention_mask.to(self.device)}
            cancelled = _Cancelled([requests[i].cancel for i in rows], enc["input_ids"].shape[1])
            with torch.no_grad():
                out = self.model.generate(**enc, **self._generate_kwargs(requests[rows[0]], longest),
                                          stopping_criteria=StoppingCriteriaList([cancelled]))
            new = out[:, enc["input_ids"].shape[1]:].tolist()
            prompt_lengths = enc["attention_mask"].sum(dim=1).tolist()
            for row, i in enumerate(rows):
                results[i] = self._finish(new[row], requests[i].max_new_tokens, int(prompt_lengths[row]))
        return results  # type: ignore[return-value]

    def _finish(self, token_ids: list[int], limit: int, prompt_tokens: int) -> GenerationResult:
        # a row that ended before the batch's longest is padded after its stop token, so the loop never sees it
        kept: list[int] = []
        reason = "length"
        for token in token_ids[:limit]:
            if token in self.stops:
                reason = "stop"
                break
            kept.append(token)
        if reason == "length" and len(token_ids) > limit and token_ids[limit] in self.stops:
            reason = "stop"
        # leading whitespace only, as streaming can only drop what comes first
        text = self.tokenizer.decode(kept, skip_special_tokens=True).lstrip()
        return GenerationResult(text, prompt_tokens, len(kept), reason)

    def stream(self, request: GenerationRequest, stats: StreamStats | None = None) -> Iterator[str]:
        """Text pieces of one answer as they are generated; setting `request.cancel` ends generation early.
        `stats` is kept up to date with the tokens generated."""
        import torch
        from transformers import StoppingCriteriaList, TextIteratorStreamer

        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=600)
        input_ids, attention_mask = left_pad([request.prompt_ids], self.tokenizer.pad_token_id)
        enc = {"input_ids": input_ids.to(self.device), "attention_mask": attention_mask.to(self.device)}
        kwargs = self._generate_kwargs(request, request.max_new_tokens)
        criterion = _Cancelled([request.cancel], enc["input_ids"].shape[1], stats)
        kwargs.update(streamer=streamer, stopping_criteria=StoppingCriteriaList([criterion]))

        def run() -> None:
            with torch.no_grad():
                try:
                    self.model.generate(**enc, **kwargs)
                except Exception:  # noqa: BLE001 - the streamer must end even when generation fails
                    streamer.end()
                    raise

        worker = threading.Thread(target=run, daemon=True, name="mentalglm-stream")
        worker.start()
        started = False
        for piece in streamer:
            if not started:
                piece = piece.lstrip()
                started = bool(piece)
            if piece:
                yield piece
        worker.join()


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
