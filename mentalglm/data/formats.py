"""Readers for the raw source formats. Each yields one `RawRow` (or a `RowError`) per data row.

Formats: `socialcd3k` (12 label columns + 内容), `sos_hl_1k` (id, label, comment),
`sos_4k` (comment, myLabel, explain), `imhi` (CSV: query, gpt-3.5-turbo) and `jsonl` (unified records).
TSV files are read without quote handling: posts contain bare quote characters.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Callable, Iterator

from mentalglm.data.io import DataError, iter_jsonl, read_text, text_lines
from mentalglm.data.rows import RawRow, RowError, RowResult
from mentalglm.tasks import ALL_TASKS, COGNITIVE_DISTORTION_LABELS, IMHI_TASK, get_task


def _tsv_rows(path: Path, required: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str] | RowError]]:
    """Rows of a table file as {column name: value} (`_Row.columns` gives a name's 1-based column): tab-separated,
    or comma-separated CSV (quoted fields, as some upstream releases ship) when the header has no tab."""
    text, _ = read_text(path)
    lines = text_lines(text)
    if not lines:
        raise DataError(path, 1, "empty file: expected a header row")
    if "\t" not in lines[0] and "," in lines[0]:
        yield from _csv_rows(path, text, required)
        return
    header = lines[0].split("\t")
    _check_header(path, header, required)
    columns = {name: k for k, name in enumerate(header, start=1)}
    for lineno, line in enumerate(lines[1:], start=2):
        fields = line.split("\t")
        if len(fields) != len(header):
            yield lineno, RowError(lineno, f"expected {len(header)} tab-separated columns, found {len(fields)}")
        else:
            yield lineno, _Row(zip(header, fields), columns=columns)


def _check_header(path: Path, header: list[str], required: tuple[str, ...]) -> None:
    missing = [c for c in required if c not in header]
    if missing:
        # the header's own words are not shown: a file without a header has a post on its first line
        raise DataError(path, 1, f"header lacks column(s) {missing} ({len(header)} columns found)")


def _csv_rows(path: Path, text: str, required: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str] | RowError]]:
    reader = csv.reader(io.StringIO(text))
    try:
        header = [h.strip() for h in next(reader)]
    except csv.Error as exc:
        raise DataError(path, 1, f"malformed CSV header ({exc})") from None
    _check_header(path, header, required)
    columns = {name: k for k, name in enumerate(header, start=1)}
    while True:
        start = reader.line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield start, RowError(start, f"malformed CSV ({exc})")
            continue
        if not fields or fields == [""]:
            continue
        if len(fields) != len(header):
            yield start, RowError(start, f"expected {len(header)} comma-separated columns, found {len(fields)}")
        else:
            yield start, _Row(zip(header, fields), columns=columns)


class _Row(dict):
    """A TSV row (column name -> value) that knows each column's 1-based position."""

    def __init__(self, items, columns: dict[str, int]):
        super().__init__(items)
        self.columns = columns


def _post(value: str | None) -> str | None:
    return value.strip() if value and value.strip() else None


def read_socialcd3k(path: Path) -> Iterator[RowResult]:
    """SocialCD-3K: one 0/1 column per cognitive-distortion label, then the post in `内容`."""
    for lineno, row in _tsv_rows(path, (*COGNITIVE_DISTORTION_LABELS, "内容")):
        if isinstance(row, RowError):
            yield row
            continue
        bad = [lab for lab in COGNITIVE_DISTORTION_LABELS if row[lab].strip() not in ("0", "1")]
        post = _post(row["内容"])
        if bad:
            yield RowError(lineno, f"label column {bad[0]} must be 0 or 1 ({len(bad)} such column(s))",
                           row.columns[bad[0]])
        elif post is None:
            yield RowError(lineno, "empty post (column 内容)", row.columns["内容"])
        else:
            labels = [lab for lab in COGNITIVE_DISTORTION_LABELS if row[lab].strip() == "1"]
            if not labels:
                yield RowError(lineno, "no cognitive-distortion label is set")
            else:
                yield RawRow(lineno, post, labels)


def read_sos_hl_1k(path: Path) -> Iterator[RowResult]:
    """SOS-HL-1K: `label` 1 = 高自杀风险, 0 = 低自杀风险; the post in `comment`."""
    names = {"1": "高自杀风险", "0": "低自杀风险"}
    for lineno, row in _tsv_rows(path, ("id", "label", "comment")):
        if isinstance(row, RowError):
            yield row
        elif row["label"].strip() not in names:
            yield RowError(lineno, "label must be 0 or 1 (column label)", row.columns["label"])
        elif _post(row["comment"]) is None:
            yield RowError(lineno, "empty post (column comment)", row.columns["comment"])
        else:
            yield RawRow(lineno, _post(row["comment"]), [names[row["label"].strip()]],
                         extra={"source_id": row["id"].strip()})


def read_sos_4k(path: Path) -> Iterator[RowResult]:
    """SOS-4K: level 0-10 in `myLabel`, the post in `comment`, an explanation in `explain`."""
    for lineno, row in _tsv_rows(path, ("comment", "myLabel", "explain")):
        if isinstance(row, RowError):
            yield row
            continue
        raw_level = row["myLabel"].strip()
        if not re.fullmatch(r"-?\d{1,3}", raw_level):
            yield RowError(lineno, "level must be an integer 0-10 (column myLabel)", row.columns["myLabel"])
        elif not 0 <= int(raw_level) <= 10:
            yield RowError(lineno, f"level {int(raw_level)} outside 0-10 (column myLabel)", row.columns["myLabel"])
        elif _post(row["comment"]) is None:
            yield RowError(lineno, "empty post (column comment)", row.columns["comment"])
        else:
            yield RawRow(lineno, _post(row["comment"]), [str(int(raw_level))], _post(row["explain"]))


_IMHI_POST_RE = re.compile(r'Consider this post:\s*"(.*)"\s*Question:', re.DOTALL)


def read_imhi(path: Path) -> Iterator[RowResult]:
    """IMHI (MentalLLaMA) CSV: `query` is the instruction, `gpt-3.5-turbo` the response, labels empty."""
    text, _ = read_text(path)
    if not text_lines(text):
        raise DataError(path, 1, "empty file: expected a header row")
    for lineno, row in _csv_rows(path, text, ("query", "gpt-3.5-turbo")):
        if isinstance(row, RowError):
            yield row
            continue
        query, answer = row["query"].strip(), row["gpt-3.5-turbo"].strip()
        if not query or not answer:
            yield RowError(lineno, "empty query or answer", row.columns["query" if not query else "gpt-3.5-turbo"])
            continue
        m = _IMHI_POST_RE.search(query)
        post = m.group(1).strip() if m and m.group(1).strip() else query
        yield RawRow(lineno, post, [], instruction=query, response=answer)


def make_jsonl_reader(task: str | None) -> Callable[[Path], Iterator[RowResult]]:
    """A reader of unified records (INTERFACE.md) that must all belong to `task` (any task when None)."""

    def read_jsonl_records(path: Path) -> Iterator[RowResult]:
        for lineno, obj, error in iter_jsonl(path):
            yield RowError(lineno, error.reason, error.column) if error else _jsonl_row(obj, lineno, task)

    return read_jsonl_records


def _jsonl_row(obj: dict, lineno: int, source_task: str | None) -> RowResult:
    task = obj.get("task")
    if task not in ALL_TASKS:
        return RowError(lineno, f"unknown task; expected one of {list(ALL_TASKS)}", "task")
    if source_task is not None and task != source_task:
        return RowError(lineno, f"task does not match the source's task {source_task!r}", "task")
    post = obj.get("post")
    if not isinstance(post, str) or not post.strip():
        return RowError(lineno, "missing or empty post", "post")
    labels = obj.get("labels")
    if not isinstance(labels, list) or not all(isinstance(x, (str, int)) for x in labels):
        return RowError(lineno, "labels must be a list of strings", "labels")
    labels = [str(x) for x in labels]
    explanation = obj.get("explanation")
    if explanation is not None and not isinstance(explanation, str):
        return RowError(lineno, "explanation must be a string or null", "explanation")
    if task == IMHI_TASK:
        if not obj.get("instruction") or not obj.get("response"):
            return RowError(lineno, "imhi records need instruction and response", "instruction")
        return RawRow(lineno, post.strip(), [], None, obj["instruction"], obj["response"], task)
    try:
        labels = get_task(task).order_labels(labels)
    except ValueError:
        return RowError(lineno, f"labels are not valid {task} labels (unknown, missing, or several for a "
                                "single-label task)", "labels")
    return RawRow(lineno, post.strip(), labels, _post(explanation), task=task)


READERS: dict[str, Callable[[Path], Iterator[RowResult]]] = {
    "socialcd3k": read_socialcd3k,
    "sos_hl_1k": read_sos_hl_1k,
    "sos_4k": read_sos_4k,
    "imhi": read_imhi,
}


def reader_for(fmt: str, task: str | None) -> Callable[[Path], Iterator[RowResult]]:
    """The row reader of source format `fmt` (records of `task`; the chat formats need one)."""
    if fmt == "jsonl":
        return make_jsonl_reader(task)
    if fmt in READERS:
        return READERS[fmt]
    from mentalglm.data.chat_formats import make_chat_reader

    return make_chat_reader(fmt, task)
