"""File reading: UTF-8 with or without BOM, CRLF or LF, GB18030 fallback; JSON lines. (Atomic writes are in
`mentalglm.runs.files`.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

from mentalglm.errors import DataError

UTF8_BOM = b"\xef\xbb\xbf"


def read_text(path: str | Path) -> tuple[str, str]:
    """Decode a text file: UTF-8 (a BOM is dropped), else GB18030; CRLF and lone CR become LF.

    Returns:
        (text, encoding name).

    Raises:
        DataError: the file is missing, or is neither UTF-8 nor GB18030 (names the first bad line).
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(path, None, "file not found") from None
    except OSError as exc:
        raise DataError(path, None, f"cannot read ({exc.strerror})") from None
    encoding = "utf-8"
    if raw.startswith(UTF8_BOM):
        raw, encoding = raw[len(UTF8_BOM):], "utf-8-sig"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as utf8_error:
        try:
            text, encoding = raw.decode("gb18030"), "gb18030"
        except UnicodeDecodeError:
            line = raw.count(b"\n", 0, utf8_error.start) + 1
            raise DataError(path, line, "not valid UTF-8 or GB18030 text") from None
    return text.replace("\r\n", "\n").replace("\r", "\n"), encoding


def text_lines(text: str) -> list[str]:
    """Split decoded text into lines, dropping the empty string after a final newline."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def parse_json(text: str, path: str | Path) -> Any:
    """The JSON value of a file's text.

    Raises:
        DataError: not JSON (naming the line of the error), or nested too deeply to read.
    """
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(path, exc.lineno, f"not JSON ({exc.msg})") from None
    except RecursionError:
        raise DataError(path, None, "not JSON we read (nested too deeply)") from None


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, dict[str, Any] | None, DataError | None]]:
    """(line, object, None) for each non-blank line of a JSON-lines file, or (line, None, error) for a line that is
    not a JSON object (the error names file, line and column, never the line's text).

    Raises:
        DataError: the file is missing or undecodable.
    """
    text, _ = read_text(path)
    for lineno, line in enumerate(text_lines(text), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            yield lineno, None, DataError(path, lineno, f"not valid JSON ({exc.msg})", exc.colno)
            continue
        if not isinstance(obj, dict):
            yield lineno, None, DataError(path, lineno, f"expected a JSON object, got {type(obj).__name__}")
            continue
        yield lineno, obj, None


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Read a JSON-lines file of objects.

    Raises:
        DataError: missing file, or a line that is not a JSON object (names the line).
    """
    rows = []
    for _, obj, error in iter_jsonl(path):
        if error is not None:
            raise error
        rows.append(obj)
    return rows
