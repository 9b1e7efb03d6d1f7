"""The task registry: exact labels, rendering, and parsing of responses."""

import pytest

from mentalglm.tasks import TASKS, parse_response, render_instruction, render_response


def test_registry_matches_the_interface():
    assert list(TASKS) == ["cognitive_distortion", "suicide_risk", "suicide_level"]
    assert TASKS["cognitive_distortion"].labels == (
        "非此即彼", "以偏概全", "心理过滤", "否定正面思考", "读心术", "先知错误", "放大", "情绪化推理", "应该式",
        "乱贴标签", "罪责归己", "罪责归他")
    assert TASKS["suicide_risk"].labels == ("高自杀风险", "低自杀风险")
    assert TASKS["suicide_level"].labels == tuple(str(n) for n in range(11))


def test_rendering_follows_the_templates():
    assert render_instruction("suicide_risk", "好累") == "考虑一下这个帖子：“好累”问题：发帖人的自杀风险是高还是低？"
    assert render_response("cognitive_distortion", ["罪责归己", "读心术"]) == "这篇帖子体现了读心术, 罪责归己的认知歪曲。"
    assert render_response("suicide_risk", ["高自杀风险"], "提到了“准备好了药”。") == \
        "发帖人表现出高自杀风险。理由：提到了“准备好了药”。"
    assert render_response("suicide_level", ["7"], "  ") == "发帖人的自杀风险为7级。"


@pytest.mark.parametrize("task,labels", [("suicide_risk", ["中自杀风险"]), ("suicide_level", ["11"]),
                                         ("suicide_risk", ["高自杀风险", "低自杀风险"]), ("cognitive_distortion", [])])
def test_rendering_rejects_bad_labels(task, labels):
    with pytest.raises(ValueError):
        render_response(task, labels)


@pytest.mark.parametrize("task,labels,explanation", [
    ("cognitive_distortion", ["读心术", "罪责归己", "罪责归他"], "帖子说“他们都讨厌我”。"),
    ("suicide_risk", ["低自杀风险"], None),
    ("suicide_level", ["10"], "“已经吞下了药”。"),
])
def test_parse_inverts_render(task, labels, explanation):
    parsed = parse_response(task, render_response(task, labels, explanation))
    assert parsed.ok and parsed.labels == labels and parsed.explanation == explanation


@pytest.mark.parametrize("task,text,labels", [
    ("cognitive_distortion", "这篇帖子体现了罪责归他、读心术的认知歪曲。理由：罪责归己", ["读心术", "罪责归他"]),
    ("cognitive_distortion", "好的。这篇帖子体现了 乱贴标签；以偏概全 的认知歪曲", ["以偏概全", "乱贴标签"]),
    ("suicide_level", "发帖人的自杀风险为７级。理由：……", ["7"]),
    ("suicide_level", "发帖人的自杀风险为七级。", ["7"]),
    ("suicide_level", "自杀风险为十级", ["10"]),
    ("suicide_risk", "发帖人表现出高自杀风险", ["高自杀风险"]),
    ("suicide_risk", "发帖人的自杀风险较低。理由：无", ["低自杀风险"]),
])
def test_parse_is_tolerant(task, text, labels):
    assert parse_response(task, text).labels == labels


@pytest.mark.parametrize("task,text", [
    ("cognitive_distortion", ""),
    ("cognitive_distortion", "这篇帖子体现了悲观主义的认知歪曲。"),
    ("suicide_risk", "发帖人表现出高自杀风险，也可能是低自杀风险。"),
    ("suicide_level", "发帖人的自杀风险为12级。"),
    ("suicide_level", "理由：只有理由没有等级"),
])
def test_parse_failures_are_reported_not_defaulted(task, text):
    parsed = parse_response(task, text)
    assert not parsed.ok and parsed.labels == [] and parsed.error


@pytest.mark.parametrize("task_id", list(TASKS))
def test_a_zero_shot_instruction_names_every_label_and_the_exact_answer_sentence(task_id):
    from mentalglm.tasks import EXPLANATION_MARKER, parse_response, zero_shot_guide

    task = TASKS[task_id]
    plain = render_instruction(task_id, "我好累")
    zero_shot = render_instruction(task_id, "我好累", zero_shot=True)
    assert zero_shot == plain + zero_shot_guide(task_id)
    guide = zero_shot_guide(task_id)
    labels = ["0到10之间的一个整数"] if task_id == "suicide_level" else list(task.labels)
    assert all(label in guide for label in labels), guide
    before, placeholder, after = task.label_sentence.partition("{labels}")
    assert f"“{before}<" in guide and f">{after}”" in guide and placeholder
    assert EXPLANATION_MARKER not in guide  # an echoed guide stays in the head, where it is blanked
    assert parse_response(task_id, zero_shot).kind == "empty"  # the echoed prompt asserts no label
    answer = render_response(task_id, [task.labels[0]], "帖子说“我好累”。")
    assert parse_response(task_id, zero_shot + answer).labels == [task.labels[0]]
