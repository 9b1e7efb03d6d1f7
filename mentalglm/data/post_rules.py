"""The rules every text of a row passes before it becomes a record, besides PII scrubbing (`mentalglm.data.scrub`).

- Control characters (C0 but tab, line feed and carriage return; DEL; C1) are removed: they carry no text, and a NUL
  byte in a post breaks tokenizers and viewers downstream. Format characters (zero-width joiners in emoji, direction
  marks) and every kind of space are kept. Removals are counted in `stats.json`.
- A post longer than `max_post_chars` is a bad row (refused, or skipped and counted with `on_bad_row: skip`), never
  cut: a truncated post could lose the very sentence its label rests on.
"""

from __future__ import annotations

import re

CONTROL_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]+")


def remove_control_characters(text: str) -> tuple[str, int]:
    """`text` without its control characters, and how many were removed (everything else is unchanged)."""
    removed = 0

    def drop(match: re.Match) -> str:
        nonlocal removed
        removed += len(match.group())
        return ""

    return CONTROL_CHARACTERS.sub(drop, text), removed


def over_length(fields: dict[str, str | None], max_chars: int) -> str | None:
    """The reason a row is refused when one of its texts (`fields`: name -> text) is over `max_chars`, else None."""
    for name, text in fields.items():
        if text is not None and len(text) > max_chars:
            return (f"the {name} has {len(text):,} characters, over max_post_chars ({max_chars:,}); raise "
                    "max_post_chars or set on_bad_row: skip")
    return None
