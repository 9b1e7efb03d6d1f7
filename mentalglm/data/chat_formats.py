"""Instruction-tuning formats users already have, read into unified records: `openai_chat`, `alpaca`, `sharegpt`.

| format | one example | post | answer |
|---|---|---|---|
| `openai_chat` | `{"messages": [{"role": "system"…}, {"role": "user"…}, {"role": "assistant"…}]}` | the first user turn | the assistant turn after it |
| `alpaca` | `{"instruction": …, "input": …, "output": …}` | `input` (or `instruction` when `input` is empty) | `output` |
| `sharegpt` | `{"conversations": [{"from": "human", "value": …}, {"from": "gpt", "value": …}]}` | the first human turn | the gpt turn after it |

A file is JSON Lines, or (alpaca, sharegpt) one JSON array; errors name `file:line`. When the post text is one of
MentalGLM's own instructions (`考虑一下这个帖子：“…”问题：…`), the post is the quoted part. The answer is read with
the source task's response parser (labels, and the explanation after 理由); an answer it cannot read, like any
other malformed example, is a row error — a record never carries labels nobody could check.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Callable, Iterator

from mentalglm.data.rows import RawRow, RowError, RowResult
from mentalglm.data.io import DataError, iter_jsonl, read_text
from mentalglm.tasks.parsing import parse_response

_OWN_INSTRUCTION_RE = re.compile(r"^\s*考虑一下这个帖子：“(.*)”问题：", re.DOTALL)


def iter_json_items(path: Path) -> Iterator[tuple[int, dict[str, Any] | None, DataError | None]]:
    """Like `io.iter_jsonl` (line, object, None) or (line, None, error), for a JSON-lines file or a JSON array file;
    in an array, the line is where the item starts."""
    text, _ = read_text(path)
    if not text.lstrip().startswith("["):
        yield from iter_jsonl(path)
        return
    decoder = json.JSONDecoder()
    index = text.index("[") + 1
    while True:
        while index < len(text) and text[index] in " \t\r\n,":
            index += 1
        lineno = text.count("\n", 0, index) + 1
        if index >= len(text):
            yield lineno, None, DataError(path, lineno, "the JSON array is not closed")
            return
        if text[index] == "]":
            return
        try:
            obj, index = decoder.raw_decode(text, index)
        except json.JSONDecodeError as exc:
            yield lineno, None, DataError(path, lineno, f"not valid JSON ({exc.msg}); the rest of the array cannot "
                                                        "be read")
            return
        if isinstance(obj, dict):
            yield lineno, obj, None
        else:
            yield lineno, None, DataError(path, lineno, f"expected a JSON object, got {type(obj).__name__}")


def _post_of(text: str) -> str:
    m = _OWN_INSTRUCTION_RE.match(text)
    return (m.group(1) if m else text).strip()


def _openai_chat(obj: dict) -> tuple[str, str] | tuple[None, str]:
    messages = obj.get("messages")
    if not isinstance(messages, list) or not messages:
        return None, "messages must be a non-empty list"
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ("system", "user", "assistant"):
            return None, f"messages[{i}] needs a role of system, user or assistant"
        if not isinstance(m.get("content"), str):
            return None, f"messages[{i}].content must be a string"
    users = [i for i, m in enumerate(messages) if m["role"] == "user"]
    if not users:
        return None, "no user turn (it holds the post)"
    answers = [i for i in range(users[0] + 1, len(messages)) if messages[i]["role"] == "assistant"]
    if not answers:
        return None, "no assistant turn after the user turn (it holds the answer)"
    return messages[users[0]]["content"], messages[answers[0]]["content"]


def _alpaca(obj: dict) -> tuple[str, str] | tuple[None, str]:
    for key in ("instruction", "output"):
        if not isinstance(obj.get(key), str):
            return None, f"{key} must be a string"
    given = obj.get("input", "")
    if not isinstance(given, str):
        return None, "input must be a string"
    return (given if given.strip() else obj["instruction"]), obj["output"]


def _sharegpt(obj: dict) -> tuple[str, str] | tuple[None, str]:
    turns = obj.get("conversations")
    if not isinstance(turns, list) or not turns:
        return None, "conversations must be a non-empty list"
    for i, t in enumerate(turns):
        if not isinstance(t, dict) or not isinstance(t.get("from"), str) or not isinstance(t.get("value"), str):
            return None, f"conversations[{i}] needs string `from` and `value`"
    humans = [i for i, t in enumerate(turns) if t["from"] in ("human", "user")]
    if not humans:
        return None, "no human turn (it holds the post)"
    answers = [i for i in range(humans[0] + 1, len(turns)) if turns[i]["from"] in ("gpt", "assistant")]
    if not answers:
        return None, "no gpt turn after the human turn (it holds the answer)"
    return turns[humans[0]]["value"], turns[answers[0]]["value"]


_EXAMPLE: dict[str, Callable[[dict], tuple[str | None, str]]] = {
    "openai_chat": _openai_chat, "alpaca": _alpaca, "sharegpt": _sharegpt}


def make_chat_reader(fmt: str, task: str) -> Callable[[Path], Iterator[RowResult]]:
    """The row reader of chat format `fmt` whose answers are `task` answers (see the module docstring)."""
    pick = _EXAMPLE[fmt]

    def read(path: Path) -> Iterator[RowResult]:
        for lineno, obj, error in iter_json_items(path):
            if error is not None:
                yield RowError(lineno, error.reason, error.column)
                continue
            post, answer = pick(obj)
            if post is None:
                yield RowError(lineno, answer)
                continue
            post = _post_of(post)
            if not post:
                yield RowError(lineno, "empty post")
                continue
            parsed = parse_response(task, answer)
            if not parsed.ok:
                yield RowError(lineno, f"the answer is not a readable {task} answer ({parsed.kind})")
                continue
            yield RawRow(lineno, post, parsed.labels, parsed.explanation)

    return read
