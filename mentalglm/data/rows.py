"""What a source reader yields per data row: a `RawRow`, or a `RowError` saying where and why it is malformed."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class RawRow:
    """One parsed data row, before scrubbing and rendering."""

    line: int
    post: str
    labels: list[str]
    explanation: str | None = None
    instruction: str | None = None  # only for formats that carry their own (imhi)
    response: str | None = None
    task: str | None = None  # set by readers of mixed-task files (jsonl)
    extra: dict = field(default_factory=dict)


@dataclass
class RowError:
    """A malformed data row: where (line, 1-based column or JSON field) and why. The reason never quotes the
    row's values: a malformed row may put post text in any column."""

    line: int
    reason: str
    column: int | str | None = None


RowResult = RawRow | RowError
