"""Prompts as token ids, where only the chat template may put control tokens.

A post may contain the literal text `<|assistant|>` or `<|endoftext|>`. Tokenising the rendered prompt as one
string would turn that text into the real control tokens, so a post could forge an assistant turn or end the
sequence. Here the template is rendered with a placeholder for each message's content; the template's own text
is tokenised as usual (its control tokens become control ids) and each content is tokenised as plain text
(special-token strings split into ordinary tokens). Training, evaluation and serving all build prompts here.

Thread safety: encoding uses two private copies of the tokenizer's backend (one that matches special tokens, one
that does not), never the shared `transformers` wrapper, whose padding and special-token settings are flipped
per call; the copies are never reconfigured, so concurrent encodes from several threads are safe.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any, Sequence

_SENTINEL = "\ue000{}\ue001"  # private-use characters: no template or tokenizer gives them meaning


class PromptEncoder:
    """Encodes chat prompts and plain text for one tokenizer (see the module docstring)."""

    def __init__(self, tokenizer: Any):
        self.tokenizer = tokenizer
        backend = getattr(tokenizer, "backend_tokenizer", None)
        # [matching special tokens, not matching them]; None for a slow (Python) tokenizer, which has no backend
        self._backends = [self._copy(backend, split) for split in (False, True)] if backend is not None else None
        self._lock = threading.Lock()

    @staticmethod
    def _copy(backend: Any, split_special_tokens: bool) -> Any:
        from tokenizers import Tokenizer

        copy = Tokenizer.from_str(backend.to_str())
        copy.no_padding()
        copy.no_truncation()
        copy.encode_special_tokens = split_special_tokens
        return copy

    def _encode(self, text: str, plain: bool) -> list[int]:
        if not text:
            return []
        if self._backends is not None:
            return self._backends[plain].encode(text, add_special_tokens=False).ids
        with self._lock:
            return self.tokenizer.encode(text, add_special_tokens=False, split_special_tokens=plain)

    def text_ids(self, text: str) -> list[int]:
        """`text` as plain text: a special-token string in it becomes ordinary tokens, never a control id."""
        return self._encode(text, plain=True)

    def prompt_ids(self, messages: Sequence[dict[str, str]], add_generation_prompt: bool = True) -> list[int]:
        """Token ids of the chat template applied to `messages` (OpenAI-style role/content dicts).

        With `add_generation_prompt` the prompt ends with the assistant tag and a newline (GLM-4 answers on a new
        line).

        Raises:
            ValueError: the chat template does not render each message's content exactly once, in order.
        """
        placeholders = [_SENTINEL.format(i) for i in range(len(messages))]
        with self._lock:  # apply_chat_template reads shared state; rendering is cheap next to encoding
            rendered = self.tokenizer.apply_chat_template(
                [{"role": m["role"], "content": p} for m, p in zip(messages, placeholders)], tokenize=False,
                add_generation_prompt=add_generation_prompt)
        if add_generation_prompt and not rendered.endswith("\n"):
            rendered += "\n"
        ids: list[int] = []
        rest = rendered
        for message, placeholder in zip(messages, placeholders):
            before, found, rest = rest.partition(placeholder)
            if not found:
                raise ValueError("the tokenizer's chat template does not render message content verbatim; "
                                 "it cannot be used with MentalGLM's prompt encoding")
            ids += self._encode(before, plain=False) + self.text_ids(message["content"])
        return ids + self._encode(rest, plain=False)

    def instruction_ids(self, instruction: str) -> list[int]:
        """Token ids of the prompt for one user instruction (what training, evaluation and /v1/analyze use), after
        the tokenizer's system prompt (`instruction_messages`)."""
        return self.prompt_ids(instruction_messages(self.tokenizer, instruction))


_MARK = "\ue010"
_TEMPLATE_DEFAULTS: "weakref.WeakKeyDictionary[Any, bool]" = weakref.WeakKeyDictionary()
_DEFAULTS_LOCK = threading.Lock()


def _template_has_default_system(tokenizer: Any) -> bool:
    """Whether the chat template puts a system turn of its own before a conversation that has none: rendering
    [user] gives [system: MARK, user]'s text with MARK replaced by some non-empty default."""
    def render(messages: list[dict[str, str]]) -> str:
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    user = {"role": "user", "content": "\ue011"}
    try:
        marked, plain = render([{"role": "system", "content": _MARK}, user]), render([user])
    except Exception:  # a template without a system role (it raises): nothing of its own to suppress either
        return False
    before, _, after = marked.partition(_MARK)
    return len(plain) > len(before) + len(after) and plain.startswith(before) and plain.endswith(after)


def instruction_messages(tokenizer: Any, instruction: str) -> list[dict[str, str]]:
    """The messages of an instruction prompt: the tokenizer's system prompt (`mentalglm_system_prompt`, set by
    `mentalglm.model.loading.load_tokenizer` from `model.system_prompt`) as a system turn, then the user turn.
    Without one, no system turn; a template that would insert a default of its own (Qwen2.5's "You are Qwen…")
    gets an empty system turn instead, so no text the config did not ask for reaches the model."""
    system = getattr(tokenizer, "mentalglm_system_prompt", None)
    if system is None:
        with _DEFAULTS_LOCK:
            if tokenizer not in _TEMPLATE_DEFAULTS:
                _TEMPLATE_DEFAULTS[tokenizer] = _template_has_default_system(tokenizer)
            system = "" if _TEMPLATE_DEFAULTS[tokenizer] else None
    head = [] if system is None else [{"role": "system", "content": system}]
    return [*head, {"role": "user", "content": instruction}]


_ENCODERS: "weakref.WeakKeyDictionary[Any, PromptEncoder]" = weakref.WeakKeyDictionary()
_ENCODERS_LOCK = threading.Lock()


def prompt_encoder(tokenizer: Any) -> PromptEncoder:
    """The (cached) PromptEncoder of `tokenizer`."""
    with _ENCODERS_LOCK:
        encoder = _ENCODERS.get(tokenizer)
        if encoder is None:
            encoder = _ENCODERS[tokenizer] = PromptEncoder(tokenizer)
        return encoder


def left_pad(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[Any, Any]:
    """(input_ids, attention_mask) tensors of `rows`, left-padded with `pad_id` to the longest row."""
    import torch

    width = max((len(r) for r in rows), default=0)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        if row:
            input_ids[i, width - len(row):] = torch.tensor(row, dtype=torch.long)
            attention_mask[i, width - len(row):] = 1
    return input_ids, attention_mask
