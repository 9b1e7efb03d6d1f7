"""The task registry: the three C-IMHI tasks, their exact labels, prompts and response templates.

Rendering (record -> instruction/response) lives here and parsing (model response -> labels) in
`mentalglm.tasks.parsing`; the package re-exports both, so training, evaluation and serving all agree on one format.
"""

from __future__ import annotations

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


def render_instruction(task_id: str, post: str, zero_shot: bool = False) -> str:
    """The C-IMHI instruction for `post` under `task_id`; with `zero_shot`, followed by the task's guide
    (`zero_shot_guide`)."""
    plain = INSTRUCTION_TEMPLATE.format(post=post, question=get_task(task_id).question)
    return zero_shot_instruction(plain, task_id) if zero_shot else plain


# Zero-shot: a base model has never seen the C-IMHI answer format, so its instruction also names the labels and the
# exact answer sentence. Training data keep the plain instruction; the parser blanks an echo of these guides.
_ZERO_SHOT_CHOICE = {
    "cognitive_distortion": "请从以下认知歪曲中选择一个或多个（多个用“, ”隔开）：{labels}。",
    "suicide_risk": "请从以下两项中选择一项：{labels}。",
    "suicide_level": "请选择0到10之间的一个整数等级（0级最低，10级最高）。",
}
_ZERO_SHOT_PLACEHOLDER = {"cognitive_distortion": "<认知歪曲>", "suicide_risk": "<高自杀风险或低自杀风险>",
                          "suicide_level": "<等级>"}
# The guide never contains the explanation marker itself: an echoed guide must stay in the answer's head, where the
# parser blanks it.
ZERO_SHOT_ANSWER = "回答的第一句必须是：“{sentence}”，然后写出“理由”二字和冒号，再引用帖子中的原话说明。"


def zero_shot_guide(task_id: str) -> str:
    """What a zero-shot instruction adds after the question: the task's labels and the exact answer sentence."""
    task = get_task(task_id)
    choice = _ZERO_SHOT_CHOICE[task.id].format(labels="、".join(task.labels))
    sentence = task.label_sentence.format(labels=_ZERO_SHOT_PLACEHOLDER[task.id])
    return choice + ZERO_SHOT_ANSWER.format(sentence=sentence)


def zero_shot_instruction(instruction: str, task_id: str) -> str:
    """A record's C-IMHI `instruction` with the zero-shot guide of its task appended (for a model without an
    adapter; training keeps the plain instruction)."""
    return instruction + zero_shot_guide(task_id)


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
