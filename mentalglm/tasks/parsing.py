"""Reading a model's answer back into labels: template first, looser rules only on the rest.

What the parser must never do is invent an answer, above all a high-risk one. So, in this order:
1. The text is split at `理由：`; only the part before it (the head) can hold labels. The head is NFKC-folded
   (full-width digits and punctuation become ASCII).
2. Text that restates the prompt is blanked: the instruction frame up to its question, every task's question,
   and ranges such as `0到10级` or comparisons such as `6级以上`.
3. Quoted text (“…”, 「…」, "…", 『…』, ‘…’) is blanked: a quoted label is cited, not asserted.
4. Label mentions are found: the task's response template first (`自杀风险为N级`, `表现出X`, `体现了…的认知歪曲`),
   then, in the text the template did not cover, the label strings themselves and a few paraphrases
   (`风险较高`, `七级`).
5. A mention preceded in its clause by a negation (并非, 不是, 没有, 无, 未, 不, 非, 排除 …) is dropped; a head whose
   only mentions are negated fails with kind `negated`.
6. Single-label tasks: two different labels fail with kind `conflict`. Multi-label: the union, in task order.

Multi-label answers may instead be a 0/1 table (the peer SocialCD-3K chat data's form): a line of `|`-separated
cells, two or more of them label names, over further `|` lines (a `---` separator row is optional). Its header names
every label, so it is read by its cells, never as text: exactly one row, as many cells as the header, 0 or 1 under
each label, and no label named outside the table; anything else fails with kind `table`.

Every failure has a `kind` (`empty`, `no_label`, `negated`, `conflict`, `out_of_range`, `table`) so evaluation can
count them; a failure never carries labels.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from mentalglm.tasks.registry import INSTRUCTION_TEMPLATE, TASKS, get_task, zero_shot_guide

FAILURE_KINDS = ("empty", "no_label", "negated", "conflict", "out_of_range", "table")


@dataclass(frozen=True)
class ParsedResponse:
    """What a model response says: labels (task order), explanation, and whether parsing succeeded.

    Attributes:
        labels: the labels asserted in the answer position; empty when `ok` is False.
        explanation: the text after `理由：`, stripped, or None.
        ok: whether exactly one consistent answer was found.
        error: why parsing failed, for humans.
        kind: why parsing failed, one of FAILURE_KINDS (None when `ok`).
    """

    labels: list[str]
    explanation: str | None
    ok: bool
    error: str | None = None
    kind: str | None = None


@dataclass(frozen=True)
class _Mention:
    label: str
    start: int
    end: int


_MARKER_RE = re.compile(r"理\s*由\s*[:：︰﹕]")
_QUOTE_RE = re.compile(r"“[^”]*”|「[^」]*」|『[^』]*』|‘[^’]*’|\"[^\"]*\"")
_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5,
              "六": 6, "七": 7, "八": 8, "九": 9}
_NUM = r"(?:\d+(?:\.\d+)?|[零〇一二两三四五六七八九十]{1,3})"
# Ranges and comparisons name levels without asserting one: 0到10级, 6-10级, 6级以上, 高于5级.
_NON_ANSWER_LEVEL_RE = re.compile(
    rf"{_NUM}\s*(?:级)?\s*(?:到|至|-|~|～|—)\s*{_NUM}\s*级(?!别)(?:之间|以内)?"
    rf"|{_NUM}\s*级\s*(?:以上|以下|及以上|及以下|之上|之下)"
    rf"|(?:高于|低于|超过|大于|小于|不到|不足|接近)\s*{_NUM}\s*级"
)
# A sign belongs to the level it precedes (自杀风险为-3级 is out of range, never level 3); a dash after a digit is a
# range, masked above.
_SIGN = r"(?:(?<![\d.])[-−]|负)?"
_LEVEL_TEMPLATE_RE = re.compile(rf"自杀风险(?:等级)?\s*(?:为|是|属于|:)\s*({_SIGN}{_NUM})\s*级(?!别)")
_LEVEL_LOOSE_RE = re.compile(rf"({_SIGN}{_NUM})\s*级(?!别)")
_LEVEL_FIELD_RE = re.compile(r"(?:等级|级别)\s*(?:为|是|:)?\s*((?:[-−]|负)?\d+(?:\.\d+)?)(?![\d.])")
_RISK_TEMPLATE_RE = re.compile(r"表现出\s*(高自杀风险|低自杀风险)")
# Paraphrases, the question's copular wording included (自杀风险是低, 风险为高的); 风险不是高 and an echo of the
# question (风险是高还是低) match none of them.
_RISK_PARAPHRASES = (
    (re.compile(r"(?:自杀)?风险(?:是|为)?(?:较|偏|很|非常|极)?高(?!还是|或)|高风险"), "高自杀风险"),
    (re.compile(r"(?:自杀)?风险(?:是|为)?(?:较|偏|很|非常|极)?低(?!还是|或)|低风险"), "低自杀风险"),
)
_CD_TEMPLATE_RE = re.compile(r"体现了?\s*(.+?)\s*的?认知歪曲")
# A negation (or a question) governs a label when only predicate words stand between them: 并非低自杀风险,
# 没有表现出任何高自杀风险, 自杀风险不是7级, 是否表现出高自杀风险. Negation words farther away (对未来无望，…) do not.
_NEGATION_RE = re.compile(
    r"(?:并非|并不是|不是|不属于|不存在|不符合|不会|不像|并没有|没有|并无|毫无|排除|是否|有没有|会不会|无|未|非|不|没)"
    r"[\s的了出地]*(?:(?:表现|体现|属于|是|为|存在|有|具有|显示|达到|处于|任何|明显|什么|自杀风险|风险|等级)"
    r"[\s的了出地]*)*$")
_LIST_GLUE = re.compile(r"[\s、,，/和与及]*")
_TABLE_SEPARATOR_CELL = re.compile(r":?-+:?")


def _normalise(text: str) -> str:
    # NFKC folds full-width digits, letters and punctuation (１０, ：, ，) to their ASCII forms.
    return unicodedata.normalize("NFKC", text)


def _blank(text: str, start: int, end: int) -> str:
    """`text` with [start, end) replaced by spaces, so offsets stay where they were."""
    return text[:start] + " " * (end - start) + text[end:]


# An echo of a question, or of a zero-shot guide (which names every label), asserts nothing.
_QUESTIONS = tuple(_normalise(t.question) for t in TASKS.values()) + tuple(_normalise(zero_shot_guide(t))
                                                                          for t in TASKS)
_FRAME_PREFIX = _normalise(INSTRUCTION_TEMPLATE.split("{post}")[0])


def _blank_echo(head: str) -> str:
    """Blank what restates the prompt: the instruction frame up to its question, the questions, quotes, ranges."""
    frame = head.find(_FRAME_PREFIX)
    if frame >= 0:
        ends = [head.find(q, frame) + len(q) for q in _QUESTIONS if head.find(q, frame) >= 0]
        head = _blank(head, frame, max(ends) if ends else len(head))
    for question in _QUESTIONS:
        for m in re.finditer(re.escape(question), head):
            head = _blank(head, m.start(), m.end())
    for pattern in (_QUOTE_RE, _NON_ANSWER_LEVEL_RE):
        for m in pattern.finditer(head):
            head = _blank(head, m.start(), m.end())
    return head


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


def _level_value(token: str) -> str:
    """The level a number token names, as written ('7', '12', '3.5', '-3'), or '?' for an unreadable numeral."""
    if token[0] in "-−负":
        value = _level_value(token[1:])
        return value if value == "?" else "-" + value
    if token[0].isdigit():
        return token if "." in token else str(int(token))
    value = _chinese_numeral(token)
    return "?" if value is None else str(value)


def _find_labels(text: str, labels: tuple[str, ...], offset: int = 0) -> list[_Mention]:
    """Scan `text` left to right, taking the longest label that starts at each position."""
    by_length = sorted(labels, key=len, reverse=True)
    found: list[_Mention] = []
    i = 0
    while i < len(text):
        match = next((lab for lab in by_length if text.startswith(lab, i)), None)
        if match:
            found.append(_Mention(match, offset + i, offset + i + len(match)))
            i += len(match)
        else:
            i += 1
    return found


def _template_mentions(task_id: str, head: str) -> list[_Mention]:
    if task_id == "suicide_level":
        return [_Mention(_level_value(m.group(1)), m.start(1), m.end(1)) for m in _LEVEL_TEMPLATE_RE.finditer(head)]
    if task_id == "suicide_risk":
        return [_Mention(m.group(1), m.start(1), m.end(1)) for m in _RISK_TEMPLATE_RE.finditer(head)]
    out: list[_Mention] = []
    for m in _CD_TEMPLATE_RE.finditer(head):
        out.extend(_find_labels(m.group(1), TASKS[task_id].labels, m.start(1)))
    return out


def _loose_mentions(task_id: str, rest: str) -> list[_Mention]:
    """Mentions outside the template: label strings and paraphrases (in `rest`, the template blanked)."""
    if task_id == "suicide_level":
        found = [_Mention(_level_value(m.group(1)), m.start(1), m.end(1)) for m in _LEVEL_LOOSE_RE.finditer(rest)]
        if not found:
            found = [_Mention(_level_value(m.group(1)), m.start(1), m.end(1))
                     for m in _LEVEL_FIELD_RE.finditer(rest)]
        return found
    found = _find_labels(rest, TASKS[task_id].labels)
    if task_id == "suicide_risk":
        taken = [(f.start, f.end) for f in found]
        for pattern, label in _RISK_PARAPHRASES:
            for m in pattern.finditer(rest):
                if not any(s < m.end() and m.start() < e for s, e in taken):
                    found.append(_Mention(label, m.start(), m.end()))
                    taken.append((m.start(), m.end()))
    return found


def _negated(head: str, mention: _Mention, mentions: list[_Mention]) -> bool:
    """Whether a negation or question governs `mention`. A run of labels joined by list glue (、 , 和) shares
    the governor of its first label: "没有体现读心术、放大" negates both."""
    start = mention.start
    while True:
        before = [m for m in mentions if m.end <= start and _LIST_GLUE.fullmatch(head, m.end, start)]
        if not before:
            break
        start = max(before, key=lambda m: m.end).start
    return bool(_NEGATION_RE.search(head, max(0, start - 24), start))


def _fail(kind: str, error: str, explanation: str | None) -> ParsedResponse:
    return ParsedResponse([], explanation, False, error, kind)


def _cells(line: str) -> list[str]:
    line = line.strip()
    line = line[1:] if line.startswith("|") else line
    line = line[:-1] if line.endswith("|") else line
    return [cell.strip() for cell in line.split("|")]


def _label_table(task_id: str, head: str, explanation: str | None) -> ParsedResponse | None:
    """The answer read from a 0/1 label table in `head`, or None when `head` holds no such table."""
    labels = TASKS[task_id].labels
    lines = head.split("\n")
    for i, line in enumerate(lines):
        header = _cells(line) if "|" in line else []
        if sum(cell in labels for cell in header) < 2:
            continue
        end = i + 1
        while end < len(lines) and "|" in lines[end]:
            end += 1
        rows = [_cells(row) for row in lines[i + 1:end]]
        if not rows:
            return None  # one line of labels between pipes is a list, read as text
        if all(_TABLE_SEPARATOR_CELL.fullmatch(cell) for cell in rows[0]):
            rows = rows[1:]
        named = [cell for cell in header if cell in labels]
        outside = _find_labels("\n".join(lines[:i] + lines[end:]), labels)
        if outside:
            return _fail("table", f"label(s) {sorted({m.label for m in outside})} named outside the table",
                         explanation)
        if len(set(named)) != len(named):
            return _fail("table", "a label appears twice in the table header", explanation)
        if len(rows) != 1:
            return _fail("table", f"{len(rows)} rows under the label header; an answer has exactly one", explanation)
        if len(rows[0]) != len(header):
            return _fail("table", f"the row has {len(rows[0])} cells, the header {len(header)}", explanation)
        values = {name: value for name, value in zip(header, rows[0]) if name in labels}
        bad = [f"{name}={value!r}" for name, value in values.items() if value not in ("0", "1")]
        if bad:
            return _fail("table", f"cells other than 0/1: {', '.join(bad)}", explanation)
        chosen = [name for name, value in values.items() if value == "1"]
        if not chosen:
            return _fail("no_label", "the table marks no label", explanation)
        return ParsedResponse(get_task(task_id).order_labels(chosen), explanation, True)
    return None


def parse_response(task_id: str, text: str) -> ParsedResponse:
    """Parse a model response into the task's labels and explanation (see the module docstring for the rules).

    Raises:
        KeyError: `task_id` is not a scored task.
    """
    task = get_task(task_id)
    parts = _MARKER_RE.split(text or "", maxsplit=1)
    explanation = parts[1].strip() if len(parts) > 1 and parts[1].strip() else None
    head = _blank_echo(_normalise(parts[0]))
    if not head.strip():
        return _fail("empty", "no label sentence before 理由", explanation)
    if task.multi_label:
        table = _label_table(task.id, head, explanation)
        if table is not None:
            return table

    template = _template_mentions(task.id, head)
    rest = head
    for m in template:
        rest = _blank(rest, m.start, m.end)
    mentions = sorted(template + _loose_mentions(task.id, rest), key=lambda m: m.start)
    if not mentions:
        return _fail("no_label", "no valid label found", explanation)
    asserted = [m for m in mentions if not _negated(head, m, mentions)]
    if not asserted:
        return _fail("negated", f"only negated label(s) {sorted({m.label for m in mentions})}", explanation)
    values = list(dict.fromkeys(m.label for m in asserted))
    if not task.multi_label and len(values) > 1:
        return _fail("conflict", f"conflicting labels {values}", explanation)
    if task.id == "suicide_level" and values[0] not in task.labels:
        return _fail("out_of_range", f"level {values[0]} is not one of 0-10", explanation)
    return ParsedResponse(task.order_labels(values), explanation, True)
