"""Evidence in an explanation: the spans it quotes (“…” or 「…」) and which of them occur in the post.

Used by evaluation (`grounding_rate`) and by the service (`evidence`, highlighted on the analyst page): a quote
the post does not contain is never shown as evidence.
"""

from __future__ import annotations

import re
import unicodedata

QUOTE_RE = re.compile(r"“([^“”]+)”|「([^「」]+)」")  # the quotes INTERFACE.md names: “…” and 「…」


def quoted_spans(explanation: str | None) -> list[str]:
    """Spans quoted with “…” or 「…」 in an explanation, in order."""
    return [s.strip() for m in QUOTE_RE.finditer(explanation or "") for s in m.groups() if s and s.strip()]


def _flat(text: str) -> str:
    # a quote is grounded when found in the post after NFKC and whitespace normalisation
    return " ".join(unicodedata.normalize("NFKC", text).split())


def grounded_spans(explanation: str | None, post: str) -> tuple[list[str], int]:
    """(quoted spans found in `post`, number of quoted spans)."""
    spans = quoted_spans(explanation)
    flat_post = _flat(post)
    return [s for s in spans if _flat(s) in flat_post], len(spans)
