"""Records -> training sequences in GLM-4's chat format, with loss on the response tokens only.

A sequence is `prompt + response + <|endoftext|>`, the prompt rendered by the tokenizer's chat template
(`[gMASK]<sop><|user|>\\n{instruction}<|assistant|>\\n`). Instruction and response are encoded as plain text
(`mentalglm.data.prompt_ids`): a special-token string inside a post never becomes a control token. When it is
longer than `max_seq_len`, the post is shortened first (down to `min_post_chars`); then the explanation is cut
from its end; the label sentence is never cut.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mentalglm.data.records import Record
from mentalglm.data.prompt_ids import prompt_encoder
from mentalglm.tasks import EXPLANATION_MARKER

IGNORE_INDEX = -100
_IMHI_REASONING = "Reasoning:"


@dataclass
class EncodedExample:
    """Token ids of one record and its labels (`IGNORE_INDEX` on prompt tokens)."""

    id: str
    input_ids: list[int]
    labels: list[int]
    post_truncated: bool = False
    response_truncated: bool = False

    def __len__(self) -> int:
        return len(self.input_ids)


class SequenceTooLongError(ValueError):
    """Even the shortest allowed prompt plus the label sentence does not fit `max_seq_len`."""


def _label_sentence(response: str) -> str:
    for marker in (EXPLANATION_MARKER, _IMHI_REASONING):
        if marker in response:
            return response[: response.index(marker) + len(marker)]
    return response


def _instruction_with_post(record: Record, keep_chars: int) -> str:
    if record.post and record.post in record.instruction:
        return record.instruction.replace(record.post, record.post[:keep_chars], 1)
    return record.instruction[:keep_chars]


def encode_example(record: Record, tokenizer: Any, max_seq_len: int, min_post_chars: int = 16) -> EncodedExample:
    """Tokenise `record` for causal-LM training.

    Args:
        record: a unified record.
        tokenizer: a tokenizer with GLM-4's chat template.
        max_seq_len: the longest sequence allowed.
        min_post_chars: the post is never shortened below this many characters.

    Raises:
        SequenceTooLongError: the shortest prompt plus the label sentence exceeds `max_seq_len`.
    """
    encoder = prompt_encoder(tokenizer)
    response_ids = encoder.text_ids(record.response) + [tokenizer.eos_token_id]
    prompt_ids = encoder.instruction_ids(record.instruction)
    post_truncated = response_truncated = False
    if len(prompt_ids) + len(response_ids) > max_seq_len:
        # Binary search for the longest post prefix that fits beside the whole response.
        full = len(record.post) if record.post in record.instruction else len(record.instruction)
        lo, hi = min(min_post_chars, full), full
        best = lo
        while lo <= hi:
            mid = (lo + hi) // 2
            n = len(encoder.instruction_ids(_instruction_with_post(record, mid)))
            if n + len(response_ids) <= max_seq_len:
                best, lo = mid, mid + 1
            else:
                hi = mid - 1
        prompt_ids = encoder.instruction_ids(_instruction_with_post(record, best))
        post_truncated = best < full
    room = max_seq_len - len(prompt_ids)
    if len(response_ids) > room:
        label_len = len(encoder.text_ids(_label_sentence(record.response)))
        if label_len > room:
            raise SequenceTooLongError(
                f"record {record.id}: prompt ({len(prompt_ids)} tokens with the post at its shortest) plus the "
                f"label sentence ({label_len}) exceed tokenization.max_seq_len={max_seq_len}")
        # The explanation is cut from its end; no end-of-text token, since the answer was not finished.
        response_ids = response_ids[:room]
        response_truncated = True
    return EncodedExample(record.id, prompt_ids + response_ids, [IGNORE_INDEX] * len(prompt_ids) + response_ids,
                          post_truncated, response_truncated)


def encode_records(records: list[Record], tokenizer: Any, max_seq_len: int,
                   min_post_chars: int = 16) -> list[EncodedExample]:
    """`encode_example` over `records`, in order."""
    return [encode_example(r, tokenizer, max_seq_len, min_post_chars) for r in records]
