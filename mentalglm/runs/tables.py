"""The one markdown table writer of every report (evaluation, pipeline summary)."""

from __future__ import annotations

from typing import Any, Sequence


def cell(value: Any, digits: int = 4) -> str:
    """A table cell: floats to `digits` decimals, None as an en dash, the rest as text."""
    if value is None:
        return "–"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def markdown_table(header: Sequence[Any], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-flavoured markdown table; cells that are not strings go through `cell`."""
    text = lambda row: "| " + " | ".join(v if isinstance(v, str) else cell(v) for v in row) + " |"  # noqa: E731
    return "\n".join([text(header), "|" + "|".join("---" for _ in header) + "|", *map(text, rows)])
