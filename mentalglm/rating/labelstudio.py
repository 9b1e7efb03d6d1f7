"""Ratings from a Label Studio JSON export, with the line each task starts on.

An export is a list of tasks, or an object whose `tasks` is that list. Each task has `data.item_id` and
`annotations`; an annotation's rater is `completed_by` (its `email`, else its `id`), cancelled annotations are
skipped, and its `result` holds one `choices` result per criterion with exactly one choice, 0-3. Every other shape
is a `DataError` naming the file, the line the task starts on, and the task, annotation and criterion.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

from mentalglm.data.io import DataError, parse_json, read_text
from mentalglm.rating.readers import Rating, check_unique, score_of, system_of
from mentalglm.tasks.rubric import CRITERIA

_WHITESPACE = " \t\n\r"
_NOT_AN_EXPORT = "not a Label Studio export (a list of tasks, or an object with `tasks`)"


def _skip(text: str, at: int) -> int:
    while at < len(text) and text[at] in _WHITESPACE:
        at += 1
    return at


def _array_items(text: str, at: int, decoder: json.JSONDecoder) -> Iterator[tuple[int, Any]]:
    """(offset, value) of each item of the JSON array starting at `text[at] == "["`."""
    at = _skip(text, at + 1)
    if text[at:at + 1] == "]":
        return
    while True:
        value, end = decoder.raw_decode(text, at)
        yield at, value
        at = _skip(text, end)
        if text[at:at + 1] == "]":
            return
        at = _skip(text, at + 1)  # the comma (the whole text parsed as JSON before this walk)


def _tasks_at(text: str, path: Path) -> Iterator[tuple[int, Any]]:
    """(line, task) of every task of the export in `text`.

    Raises:
        DataError: not JSON (with the line of the error), or not a list of tasks nor an object with `tasks`.
    """
    whole = parse_json(text, path)
    decoder = json.JSONDecoder()
    start = _skip(text, 0)
    if isinstance(whole, dict) and isinstance(whole.get("tasks"), list):
        at = _skip(text, start + 1)
        while True:  # the object's keys, in order, to the array of `tasks` (the last one, as json.loads keeps)
            key, end = decoder.raw_decode(text, at)
            value_at = _skip(text, _skip(text, end) + 1)
            _, value_end = decoder.raw_decode(text, value_at)
            if key == "tasks":
                tasks_at = value_at
            at = _skip(text, value_end)
            if text[at] == "}":
                break
            at = _skip(text, at + 1)
        start = tasks_at
    elif not isinstance(whole, list):
        raise DataError(path, text.count("\n", 0, start) + 1, _NOT_AN_EXPORT)
    for offset, task in _array_items(text, start, decoder):
        yield text.count("\n", 0, offset) + 1, task


def _rater(annotation: dict, where: str, path: Path, line: int) -> str:
    who = annotation.get("completed_by")
    if isinstance(who, dict):
        who = who.get("email") or who.get("id")
    if who is None or who == "" or isinstance(who, (bool, dict, list)):
        raise DataError(path, line, f"{where} has no completed_by (the rater): ratings without a rater cannot be "
                        "told apart")
    return str(who)


def _choice(result: dict, criterion: str, where: str, path: Path, line: int) -> Any:
    if result.get("type", "choices") != "choices":
        raise DataError(path, line, f"{where}: the result for {criterion} is of type {result.get('type')!r}; the "
                        "rating set asks for one choice of 0-3 (type 'choices')")
    value = result.get("value")
    choices = value.get("choices") if isinstance(value, dict) else None
    if not isinstance(choices, list):
        raise DataError(path, line, f"{where}: the result for {criterion} has no value.choices")
    if len(choices) != 1:
        raise DataError(path, line, f"{where}: {len(choices)} choices for {criterion}, one expected")
    return choices[0]


def _annotation_ratings(annotation: Any, item: str, system: str, where: str, path: Path,
                        line: int) -> Iterator[Rating]:
    if not isinstance(annotation, dict):
        raise DataError(path, line, f"{where} is not an object")
    if annotation.get("was_cancelled") is True:
        return
    rater = _rater(annotation, where, path, line)
    results = annotation.get("result")
    if not isinstance(results, list):
        raise DataError(path, line, f"{where}: result is not a list")
    for result in results:
        criterion = result.get("from_name") if isinstance(result, dict) else None
        if isinstance(criterion, str) and criterion in CRITERIA:
            choice = _choice(result, criterion, where, path, line)
            yield Rating(item, system, criterion, rater, score_of(choice, path, line, criterion))


def read_labelstudio(path: str | Path, key: dict | None) -> list[Rating]:
    """Ratings from a Label Studio JSON export (see the module docstring), unblinded with the export's `key`.

    Raises:
        DataError: naming the file, the task's line and what is wrong (shape, score, rater, key, a rating twice).
    """
    path = Path(path)
    text, _ = read_text(path)
    out: list[tuple[int, Rating]] = []
    for n, (line, task) in enumerate(_tasks_at(text, path), start=1):
        if not isinstance(task, dict):
            raise DataError(path, line, f"task {n} is not an object")
        data = task.get("data")
        item = data.get("item_id") if isinstance(data, dict) else None
        if not isinstance(item, str) or not item:
            raise DataError(path, line, f"task {n} has no data.item_id")
        system = system_of(key, item, path, line)
        annotations = task.get("annotations")
        if annotations is None:
            continue
        if not isinstance(annotations, list):
            raise DataError(path, line, f"task {n}: annotations is not a list")
        for a, annotation in enumerate(annotations, start=1):
            out += [(line, r) for r in _annotation_ratings(annotation, item, system, f"task {n}, annotation {a}",
                                                           path, line)]
    return check_unique(out, path)
