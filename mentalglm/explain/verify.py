"""The checks a teacher's answer passes before its explanation is kept, in order; the first that fails is the reason.

(a) labels: the answer parses (the project's parser) to exactly the gold labels and carries a 理由; the record's
    response rendered from the gold labels and that explanation parses back to the same labels and explanation.
    Reasons: `unparseable`, `label_mismatch`, `no_explanation`.
(b) grounding: at least one span quoted in 「」, and every quoted span (「」 or “”) occurs in the post after the
    normalisation evaluation's grounding uses (NFKC, whitespace). Reasons: `no_quote`, `quote_not_in_post`.
(c) form: `min_chars`..`max_chars` characters; at least `min_chinese_ratio` of the letters are Chinese.
    Reasons: `too_short`, `too_long`, `not_chinese`.
(d) safety: no chat special-token strings, no URL, nothing the PII scrub would replace. Reasons: `special_token`,
    `url`, `pii`.
(e) optional consistency: a model trained on the gold labels (posts of the train split), applied to the explanation
    alone, predicts the gold label (single-label) or one of the gold labels (multi-label). Reason: `inconsistent`.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Callable, Sequence

from mentalglm.config.explain import VerifySection
from mentalglm.data.scrub import scrub_pii
from mentalglm.tasks.evidence import grounded_spans, quoted_spans
from mentalglm.tasks import get_task, parse_response, render_response

REASONS = ("unparseable", "label_mismatch", "no_explanation", "no_quote", "quote_not_in_post", "too_short",
           "too_long", "not_chinese", "special_token", "url", "pii", "inconsistent")

_CORNER_QUOTE = re.compile(r"「[^「」]+」")
# GLM-4's and ChatML's control strings, and the generic <|...|> form other chat templates use.
_SPECIAL_TOKEN = re.compile(r"<\|[A-Za-z_]+\|>|\[gMASK\]|\[sMASK\]|\[MASK\]|<sop>|<eop>|</?s>|<pad>|<unk>")
_URL = re.compile(r"https?://|www\.", re.IGNORECASE)

Consistency = Callable[[str], Sequence[str]]  # explanation text -> predicted labels


@dataclass(frozen=True)
class Verdict:
    """The outcome for one answer: the explanation to keep, or why not."""

    explanation: str | None
    reason: str | None

    @property
    def ok(self) -> bool:
        """Whether the explanation may be kept."""
        return self.reason is None


def _chinese_ratio(text: str) -> float:
    letters = [ch for ch in text if unicodedata.category(ch)[0] in "LN"]
    if not letters:
        return 0.0
    return sum("\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf" for ch in letters) / len(letters)


def verify_answer(task: str, post: str, gold: Sequence[str], answer: str, settings: VerifySection,
                  consistency: Consistency | None = None) -> Verdict:
    """Check the teacher's `answer` for a post whose gold labels are `gold` (module docstring: the rules)."""
    gold_ordered = get_task(task).order_labels(list(gold))
    parsed = parse_response(task, answer)
    if not parsed.ok:
        return Verdict(None, "unparseable")
    if parsed.labels != gold_ordered:
        return Verdict(None, "label_mismatch")
    explanation = parsed.explanation
    if not explanation:
        return Verdict(None, "no_explanation")
    again = parse_response(task, render_response(task, gold_ordered, explanation))
    if not again.ok or again.labels != gold_ordered or again.explanation != explanation:
        return Verdict(None, "label_mismatch")

    if not _CORNER_QUOTE.search(explanation):
        return Verdict(None, "no_quote")
    found, total = grounded_spans(explanation, post)
    if len(found) != total or total != len(quoted_spans(explanation)):
        return Verdict(None, "quote_not_in_post")

    if len(explanation) < settings.min_chars:
        return Verdict(None, "too_short")
    if len(explanation) > settings.max_chars:
        return Verdict(None, "too_long")
    if _chinese_ratio(explanation) < settings.min_chinese_ratio:
        return Verdict(None, "not_chinese")

    if _SPECIAL_TOKEN.search(explanation):
        return Verdict(None, "special_token")
    _, replaced = scrub_pii(explanation)
    if _URL.search(explanation) or replaced.get("[URL]"):
        return Verdict(None, "url")
    if replaced:
        return Verdict(None, "pii")

    if consistency is not None:
        predicted = set(consistency(explanation))
        if not predicted & set(gold_ordered) or (not get_task(task).multi_label and predicted != set(gold_ordered)):
            return Verdict(None, "inconsistent")
    return Verdict(explanation, None)
