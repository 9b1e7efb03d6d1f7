"""The task registry: the three C-IMHI tasks, their exact labels, prompts and response templates.

Rendering (record -> instruction/response) and parsing (model response -> labels) live side by side so
training, evaluation and serving all agree on one format. See ../shared/docs/INTERFACE.md.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

INSTRUCTION_TEMPLATE = "考虑一下这个帖子：“{post}”问题：{question}"
EXPLANATION_MARKER = "理由："

COGNITIVE_DISTORTION_LABELS = (
    "非此即彼", "以偏概全", "心理过滤", "否定正面思考", "读心术", "先知错误",
    "放大", "情绪化推理", "应该式", "乱贴标签", "罪责归己", "罪责归他",
)
SUICIDE_RISK_LABELS = ("高自杀风险", "低自杀风险")
SUICIDE_LEVEL_LABELS = tuple(str(n) for n in range(11))
HIGH_LEVEL_THRESHOLD = 6  # levels >= 6 carry a concrete method or plan: the high-risk end of the scale


@dataclass(frozen=True)
class Task:
    """One task of the registry.

    Attributes:
        id: the task id used in records (`cognitive_distortion`).
        labels: the exact label strings, in canonical order.
        multi_label: whether a post may carry several labels.
        question: the question appended to the instruction.
        label_sentence: the response's label sentence, with `{labels}` standing for the joined labels.
    """

    id: str
    labels: tuple[str, ...]
    multi_label: bool
    question: str
    label_sentence: str

    def order_labels(self, labels: list[str] | tuple[str, ...]) -> list[str]:
        """Return `labels` deduplicated, in the task's label order.

        Raises:
            ValueError: a label is not one of the task's labels.
        """
        unknown = [lab for lab in labels if lab not in self.labels]
        if unknown:
            raise ValueError(f"unknown {self.id} label(s) {unknown}; expected one of {list(self.labels)}")
        if not labels:
            raise ValueError(f"{self.id} needs at least one label")
        if not self.multi_label and len(set(labels)) > 1:
            raise ValueError(f"{self.id} takes exactly one label, got {list(labels)}")
        return [lab for lab in self.labels if lab in set(labels)]


TASKS: dict[str, Task] = {
    t.id: t
    for t in (
        Task("cognitive_distortion", COGNITIVE_DISTORTION_LABELS, True,
             "这个帖子体现了什么认知歪曲？", "这篇帖子体现了{labels}的认知歪曲。"),
        Task("suicide_risk", SUICIDE_RISK_LABELS, False,
             "发帖人的自杀风险是高还是低？", "发帖人表现出{labels}。"),
        Task("suicide_level", SUICIDE_LEVEL_LABELS, False,
             "发帖人的自杀风险处于0到10级中的哪一级？", "发帖人的自杀风险为{labels}级。"),
    )
}
SCORED_TASKS = tuple(TASKS)
# Stage-1 English IMHI instructions: trained on, never scored; instruction and response come as written.
IMHI_TASK = "imhi"
ALL_TASKS = (*SCORED_TASKS, IMHI_TASK)


def get_task(task_id: str) -> Task:
    """Look a task up by id.

    Raises:
        KeyError: with the known ids, when `task_id` is not a scored task.
    """
    try:
        return TASKS[task_id]
    except KeyError:
        raise KeyError(f"unknown task {task_id!r}; known tasks: {list(TASKS)}") from None


def render_instruction(task_id: str, post: str) -> str:
    """The C-IMHI instruction for `post` under `task_id`."""
    return INSTRUCTION_TEMPLATE.format(post=post, question=get_task(task_id).question)


def render_response(task_id: str, labels: list[str], explanation: str | None = None) -> str:
    """The response for `labels` (joined with ", " in task order), plus `理由：{explanation}` if given.

    Raises:
        ValueError: a label is unknown, missing, or several are given to a single-label task.
    """
    task = get_task(task_id)
    sentence = task.label_sentence.format(labels=", ".join(task.order_labels(labels)))
    if explanation and explanation.strip():
        return f"{sentence}{EXPLANATION_MARKER}{explanation.strip()}"
    return sentence


@dataclass(frozen=True)
class ParsedResponse:
    """What a model response says: labels (task order), explanation, and whether parsing succeeded."""

    labels: list[str]
    explanation: str | None
    ok: bool
    error: str | None = None


_MARKER_RE = re.compile(r"理\s*由\s*[:：︰﹕]")
_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5,
              "六": 6, "七": 7, "八": 8, "九": 9}
_LEVEL_RE = re.compile(r"(\d{1,3}|[零〇一二两三四五六七八九十]{1,3})\s*级")
_LEVEL_FALLBACK_RE = re.compile(r"(?:等级|级别|风险)\s*(?:为|是|[:：])?\s*(\d{1,3})(?!\d)")


def _normalise(text: str) -> str:
    # NFKC folds full-width digits, letters and punctuation (１０, ：, ，) to their ASCII forms.
    return unicodedata.normalize("NFKC", text)


def _chinese_numeral(text: str) -> int | None:
    if text == "十":
        return 10
    if text.startswith("十") and len(text) == 2 and text[1] in _CN_DIGITS:
        return 10 + _CN_DIGITS[text[1]]
    if len(text) == 1 and text in _CN_DIGITS:
        return _CN_DIGITS[text]
    if len(text) >= 2 and text[0] in _CN_DIGITS and text[1] == "十":
        rest = text[2:]
        tail = _CN_DIGITS.get(rest, None) if rest else 0
        return None if tail is None else _CN_DIGITS[text[0]] * 10 + tail
    return None


def _find_labels(head: str, labels: tuple[str, ...]) -> list[str]:
    """Scan `head` left to right, taking the longest label that starts at each position."""
    by_length = sorted(labels, key=len, reverse=True)
    found: list[str] = []
    i = 0
    while i < len(head):
        match = next((lab for lab in by_length if head.startswith(lab, i)), None)
        if match:
            found.append(match)
            i += len(match)
        else:
            i += 1
    return found


def _parse_level(head: str) -> int | None:
    for pattern in (_LEVEL_RE, _LEVEL_FALLBACK_RE):
        m = pattern.search(head)
        if m:
            token = m.group(1)
            value = int(token) if token.isdigit() else _chinese_numeral(token)
            return value
    return None


def parse_response(task_id: str, text: str) -> ParsedResponse:
    """Parse a model response into the task's labels and explanation.

    Labels are read from the text before `理由：` (or the whole text when it has none), after folding
    full-width characters; a response naming no valid label is a failure (`ok=False`), never a default.

    Raises:
        KeyError: `task_id` is not a scored task.
    """
    task = get_task(task_id)
    parts = _MARKER_RE.split(text or "", maxsplit=1)
    head = _normalise(parts[0])
    explanation = parts[1].strip() if len(parts) > 1 and parts[1].strip() else None
    if not head.strip():
        return ParsedResponse([], explanation, False, "empty label sentence")

    if task.id == "suicide_level":
        level = _parse_level(head)
        if level is None:
            return ParsedResponse([], explanation, False, "no level found")
        if not 0 <= level <= 10:
            return ParsedResponse([], explanation, False, f"level {level} outside 0-10")
        return ParsedResponse([str(level)], explanation, True)

    found = _find_labels(head, task.labels)
    if task.id == "suicide_risk" and not found:
        if re.search(r"(自杀)?风险(较|偏|很|非常)?高|高风险", head):
            found = ["高自杀风险"]
        elif re.search(r"(自杀)?风险(较|偏|很|非常)?低|低风险", head):
            found = ["低自杀风险"]
    if not found:
        return ParsedResponse([], explanation, False, "no valid label found")
    if not task.multi_label and len(set(found)) > 1:
        return ParsedResponse([], explanation, False, f"conflicting labels {sorted(set(found))}")
    return ParsedResponse(task.order_labels(found), explanation, True)
