"""`review.csv`: a stratified sample of the teacher's kept and rejected answers, for people to check.

Strata: kept answers by task, rejected answers by the reason of their last rejection; the sample takes from the
strata in turn (seeded), so rare reasons are seen. Columns: id, split, task, labels (gold, `、`-joined), status,
reason, explanation (kept) or answer (the rejected text), post. The file holds posts: keep it where the data is.
"""

from __future__ import annotations

import csv
import io
import json
import random
from typing import Any

from mentalglm.runs.files import write_text_atomic
from mentalglm.data.records import Record
from mentalglm.data.stratify import round_robin

COLUMNS = ("id", "split", "task", "labels", "status", "reason", "explanation", "answer", "post")


def write_review(path, records: list[Record], outcomes: dict[str, dict[str, Any]], size: int, seed: int) -> int:
    """Write up to `size` sampled rows to `path`; returns how many."""
    strata: dict[tuple[str, str], list[dict[str, str]]] = {}
    for record in records:
        outcome = outcomes[record.id]
        base = {"id": record.id, "split": record.split, "task": record.task, "labels": "、".join(record.labels),
                "post": record.post}
        if outcome["status"] == "kept":
            strata.setdefault(("kept", record.task), []).append(
                {**base, "status": "kept", "reason": "", "explanation": outcome["explanation"], "answer": ""})
        reasons = json.loads(outcome["reasons"])
        if outcome["rejected_answer"] and reasons:
            strata.setdefault(("rejected", reasons[-1]), []).append(
                {**base, "status": "rejected", "reason": reasons[-1], "explanation": "",
                 "answer": outcome["rejected_answer"]})
    chosen = round_robin(strata, size, random.Random(seed))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(chosen)
    write_text_atomic(path, buffer.getvalue())
    return len(chosen)
