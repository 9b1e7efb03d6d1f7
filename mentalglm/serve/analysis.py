"""What `/v1/analyze` returns for one task: the parsed labels, the explanation, its grounded evidence and the
risk alert."""

from __future__ import annotations

from mentalglm.tasks.evidence import grounded_spans
from mentalglm.tasks import HIGH_LEVEL_THRESHOLD, parse_response

HIGH_RISK_LABEL = "高自杀风险"


def risk_alert(task: str, labels: list[str]) -> bool:
    """True for 高自杀风险, or a suicide level at or above the high-risk threshold (6)."""
    if task == "suicide_risk":
        return HIGH_RISK_LABEL in labels
    if task == "suicide_level":
        return any(label.isdigit() and int(label) >= HIGH_LEVEL_THRESHOLD for label in labels)
    return False


def analyze_answer(task: str, post: str, raw: str) -> dict:
    """One entry of `/v1/analyze`'s `results` from the model's raw answer to `post`.

    `evidence` holds the spans the explanation quotes with “…” or 「…」 that occur verbatim in the post; quotes the
    post does not contain are left out, so the page never highlights invented text.
    """
    parsed = parse_response(task, raw)
    evidence, _ = grounded_spans(parsed.explanation, post)
    return {"task": task, "labels": parsed.labels, "explanation": parsed.explanation,
            "evidence": list(dict.fromkeys(evidence)), "risk_alert": parsed.ok and risk_alert(task, parsed.labels),
            "raw": raw, "parse_ok": parsed.ok}
