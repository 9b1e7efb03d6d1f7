"""The response parser on realistic model outputs: parsed labels, or a counted failure (never a default)."""

import pytest

from mentalglm.tasks import parse_response

CD, SR, SL = "cognitive_distortion", "suicide_risk", "suicide_level"

# (task, model output, expected labels; None means a parse failure)
OUTPUTS = [
    # well-formed
    (CD, "这篇帖子体现了读心术的认知歪曲。理由：发帖人认为“他们都讨厌我”。", ["读心术"]),
    (CD, "这篇帖子体现了读心术, 罪责归己的认知歪曲。理由：……", ["读心术", "罪责归己"]),
    (SR, "发帖人表现出高自杀风险。理由：帖子提到“药已经攒好了”。", ["高自杀风险"]),
    (SR, "发帖人表现出低自杀风险。理由：只是抱怨工作累。", ["低自杀风险"]),
    (SL, "发帖人的自杀风险为8级。理由：已经准备好了工具。", ["8"]),
    (SL, "发帖人的自杀风险为0级。理由：只是日常情绪。", ["0"]),
    (SL, "发帖人的自杀风险为10级。理由：行为正在进行。", ["10"]),
    # no 理由
    (CD, "这篇帖子体现了先知错误的认知歪曲。", ["先知错误"]),
    (SR, "发帖人表现出高自杀风险。", ["高自杀风险"]),
    (SL, "发帖人的自杀风险为3级。", ["3"]),
    # extra chatter before the label
    (CD, "好的，我来分析一下。这篇帖子体现了乱贴标签的认知歪曲。理由：自称“废物”。", ["乱贴标签"]),
    (SR, "根据帖子内容判断，发帖人表现出高自杀风险。理由：有具体计划。", ["高自杀风险"]),
    (SL, "分析如下：\n发帖人的自杀风险为6级。理由：提到了跳楼。", ["6"]),
    (SL, "这是一个需要认真对待的帖子。发帖人的自杀风险为5级", ["5"]),
    # several labels with mixed separators
    (CD, "这篇帖子体现了非此即彼、先知错误的认知歪曲。", ["非此即彼", "先知错误"]),
    (CD, "这篇帖子体现了以偏概全，乱贴标签；罪责归己的认知歪曲。", ["以偏概全", "乱贴标签", "罪责归己"]),
    (CD, "这篇帖子体现了 放大 ,情绪化推理 和 应该式 的认知歪曲。", ["放大", "情绪化推理", "应该式"]),
    (CD, "这篇帖子体现了罪责归他, 读心术的认知歪曲。", ["读心术", "罪责归他"]),
    (CD, "这篇帖子体现了心理过滤/否定正面思考的认知歪曲。", ["心理过滤", "否定正面思考"]),
    # longest match and prefix-sharing labels
    (CD, "这篇帖子体现了罪责归己的认知歪曲。理由：自责。", ["罪责归己"]),
    (CD, "这篇帖子体现了罪责归他的认知歪曲。理由：怪罪家人。", ["罪责归他"]),
    (CD, "这篇帖子体现了罪责归己、罪责归他的认知歪曲。", ["罪责归己", "罪责归他"]),
    # labels after 理由 do not count
    (CD, "这篇帖子体现了放大的认知歪曲。理由：不是读心术，也不是罪责归己。", ["放大"]),
    (SR, "发帖人表现出低自杀风险。理由：不属于高自杀风险。", ["低自杀风险"]),
    # full-width characters and spacing
    (SL, "发帖人的自杀风险为７级。理由：……", ["7"]),
    (SL, "发帖人的自杀风险为１０级", ["10"]),
    (SL, "发帖人的自杀风险为 4 级 。理由：想死但无计划", ["4"]),
    (SR, "发帖人表现出高自杀风险。理由︰有计划", ["高自杀风险"]),
    (CD, "这篇帖子体现了读心术的认知歪曲。理由:他人想法。", ["读心术"]),
    # Chinese numerals
    (SL, "发帖人的自杀风险为七级。", ["7"]),
    (SL, "发帖人的自杀风险为十级。", ["10"]),
    (SL, "发帖人的自杀风险为零级。", ["0"]),
    (SL, "发帖人的自杀风险为两级。", ["2"]),
    (SL, "自杀风险等级：9", ["9"]),
    # paraphrased risk
    (SR, "发帖人的自杀风险较高。理由：……", ["高自杀风险"]),
    (SR, "该用户属于低风险。", ["低自杀风险"]),
    # wrong or invented label names
    (CD, "这篇帖子体现了灾难化思维的认知歪曲。", None),
    (CD, "这篇帖子体现了读心的认知歪曲。", None),
    (SR, "发帖人表现出中等自杀风险。", None),
    (SL, "发帖人的自杀风险为11级。", None),
    (SL, "发帖人的自杀风险为十二级。", None),
    (SL, "发帖人的自杀风险很高。", None),
    # contradictory
    (SR, "发帖人表现出高自杀风险或低自杀风险。", None),
    (SL, "发帖人的自杀风险为七级。", ["7"]),
    # empty and degenerate outputs
    (CD, "", None),
    (SR, "   ", None),
    (SL, "理由：帖子里说想死。", None),
    (CD, "理由：", None),
    (SR, "<|endoftext|>", None),
    (SL, "级级级", None),
]

# The failure modes of a parser that reads too much (issue 11): each must fail, or keep the label the answer
# position asserts, never take a label that is only echoed, quoted, negated or ranged. (task, text, expected,
# expected failure kind or None)
FAILURE_MODES = [
    # echoed question / instruction
    (SL, "发帖人的自杀风险处于0到10级中的哪一级？发帖人的自杀风险为3级。理由：……", ["3"], None),
    (SL, "发帖人的自杀风险处于0到10级中的哪一级？", None, "empty"),
    (SL, "问题：发帖人的自杀风险处于０到１０级中的哪一级？", None, "no_label"),
    (SR, "发帖人的自杀风险是高还是低？", None, "empty"),
    (SR, "发帖人的自杀风险是高还是低？发帖人表现出低自杀风险。", ["低自杀风险"], None),
    (SL, "考虑一下这个帖子：“我想死，十级痛苦”问题：发帖人的自杀风险处于0到10级中的哪一级？发帖人的自杀风险为2级",
     ["2"], None),
    (SR, "考虑一下这个帖子：“我有高自杀风险”问题：发帖人的自杀风险是高还是低？", None, "empty"),
    (CD, "这个帖子体现了什么认知歪曲？这篇帖子体现了放大的认知歪曲。", ["放大"], None),
    # ranges and comparisons name levels without asserting one
    (SL, "自杀风险为6-10级", None, "no_label"),
    (SL, "6级以上为高风险，发帖人的自杀风险为2级", ["2"], None),
    (SL, "发帖人的自杀风险高于5级", None, "no_label"),
    (SL, "评分范围是0至10级。发帖人的自杀风险为4级", ["4"], None),
    # conflicts
    (SL, "3级或7级", None, "conflict"),
    (SL, "发帖人的自杀风险为3级或7级", None, "conflict"),
    (SL, "发帖人的自杀风险为3级。发帖人的自杀风险为8级。", None, "conflict"),
    (SR, "发帖人表现出高自杀风险，也表现出低自杀风险。", None, "conflict"),
    (SR, "发帖人表现出低自杀风险，但风险较高。", None, "conflict"),
    (SL, "发帖人的自杀风险为七级，也可能是3级", None, "conflict"),
    # negation
    (SR, "发帖人并非低自杀风险。", None, "negated"),
    (SR, "发帖人并非表现出高自杀风险。", None, "negated"),
    (SR, "发帖人没有表现出任何高自杀风险。", None, "negated"),
    (SR, "不是高风险。", None, "negated"),
    (SR, "排除高自杀风险。", None, "negated"),
    (SR, "发帖人是否表现出高自杀风险？", None, "negated"),
    (SL, "发帖人的自杀风险不是7级。", None, "negated"),
    (SL, "自杀风险不是7级，而是3级", ["3"], None),
    (SR, "并非低自杀风险，而是高自杀风险", ["高自杀风险"], None),
    (SR, "发帖人并非低自杀风险，而是表现出高自杀风险。", ["高自杀风险"], None),
    (CD, "这篇帖子没有体现读心术、放大的认知歪曲。", None, "negated"),
    (CD, "这篇帖子体现了放大的认知歪曲，并非读心术。", ["放大"], None),
    (CD, "这篇帖子不存在以偏概全。", None, "negated"),
    # negation words that govern nothing stay harmless
    (SR, "发帖人对未来无望，表现出高自杀风险。", ["高自杀风险"], None),
    (SR, "发帖人感到无助，不想活了，表现出高自杀风险。", ["高自杀风险"], None),
    (SL, "发帖人没有具体计划，自杀风险为4级。", ["4"], None),
    # quoted labels are cited, not asserted
    (SR, "发帖人表现出“高自杀风险”吗", None, "no_label"),
    (SR, "帖子里写着「高自杀风险」几个字。发帖人表现出低自杀风险。", ["低自杀风险"], None),
    (SL, "他说“我的自杀风险为10级”，发帖人的自杀风险为2级。", ["2"], None),
    (SL, "帖子提到『八级』，发帖人的自杀风险为1级。", ["1"], None),
    (CD, "他说\"读心术\"不可信。这篇帖子体现了先知错误的认知歪曲。", ["先知错误"], None),
    # labels inside the explanation do not count
    (SR, "发帖人表现出低自杀风险。理由：如果有计划就会是高自杀风险，但帖子没有。", ["低自杀风险"], None),
    (SL, "发帖人的自杀风险为2级。理由：不到6级，因为没有具体方法，并非8级。", ["2"], None),
    (SL, "理由：帖子说想死，属于9级。", None, "empty"),
    (CD, "这篇帖子体现了应该式的认知歪曲。理由：还可能有罪责归己和放大。", ["应该式"], None),
    # full-width and Chinese numerals
    (SL, "发帖人的自杀风险为９级。", ["9"], None),
    (SL, "发帖人的自杀风险为十级", ["10"], None),
    (SL, "发帖人的自杀风险为二十级。", None, "out_of_range"),
    (SL, "发帖人的自杀风险为3.5级。", None, "out_of_range"),
    (SL, "发帖人的自杀风险为12级。", None, "out_of_range"),
    # a sign is part of the level it precedes: -3 is out of range, never read as 3
    (SL, "发帖人的自杀风险为-3级。", None, "out_of_range"),
    (SL, "发帖人的自杀风险为－3级。", None, "out_of_range"),
    (SL, "发帖人的自杀风险为−3级。", None, "out_of_range"),
    (SL, "发帖人的自杀风险为负三级。", None, "out_of_range"),
    (SL, "自杀风险大约在 -2级左右", None, "out_of_range"),
    (SL, "风险等级：-4", None, "out_of_range"),
    (SL, "风险在6-8级之间，发帖人的自杀风险为7级。", ["7"], None),
    (SL, "发帖人的自杀风险为3级，不是负面情绪的-1级。", None, "conflict"),
    (SR, "发帖人表现出高自杀风险。", ["高自杀风险"], None),
    # the question's own copular wording, as base models answer it
    (SR, "发帖人的自杀风险是低。", ["低自杀风险"], None),
    (SR, "发帖人的自杀风险是高的。", ["高自杀风险"], None),
    (SR, "自杀风险为高，因为他提到了计划。", ["高自杀风险"], None),
    (SR, "发帖人的自杀风险不是高。", None, "no_label"),
    (SR, "自杀风险是高还是低？这很难说。", None, "no_label"),
    (SR, "风险是低或者中等。", None, "no_label"),
    (SL, "风险等级是7", ["7"], None),
    (SL, "风险等级为-2", None, "out_of_range"),
]




@pytest.mark.parametrize("task,text,expected", OUTPUTS, ids=[f"{i:02d}-{o[0]}" for i, o in enumerate(OUTPUTS)])
def test_parse_realistic_output(task, text, expected):
    parsed = parse_response(task, text)
    if expected is None:
        assert not parsed.ok and parsed.labels == [] and parsed.error
    else:
        assert parsed.ok and parsed.labels == expected, parsed


@pytest.mark.parametrize("task,text,expected,kind", FAILURE_MODES,
                         ids=[f"{i:02d}-{o[0]}" for i, o in enumerate(FAILURE_MODES)])
def test_failure_modes(task, text, expected, kind):
    parsed = parse_response(task, text)
    if expected is None:
        assert (parsed.ok, parsed.labels, parsed.kind) == (False, [], kind), parsed
    else:
        assert (parsed.ok, parsed.labels, parsed.kind) == (True, expected, None), parsed


def test_explanation_is_returned_verbatim():
    parsed = parse_response(SL, "发帖人的自杀风险为８级。理由：帖子说“药已经攒了一百多片”，计划具体。")
    assert parsed.labels == ["8"]
    assert parsed.explanation == "帖子说“药已经攒了一百多片”，计划具体。"


def test_the_suite_covers_at_least_ninety_cases_and_twenty_five_failure_modes():
    assert len(OUTPUTS) + len(FAILURE_MODES) >= 90
    assert len(FAILURE_MODES) >= 25


# ---------------------------------------------------------------------------------------------- property
# A false high-risk alert is worse than a parse failure. Responses are built from pieces that mention the high
# label or a high level only as an echo, a quote, a negation, a range or inside the explanation, plus safe
# answers and filler; none of them may set risk_alert.
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from mentalglm.serve.analysis import analyze_answer  # noqa: E402

_NOT_AN_ANSWER = [
    "发帖人的自杀风险是高还是低？", "发帖人的自杀风险处于0到10级中的哪一级？",
    "考虑一下这个帖子：“我是高自杀风险，十级”问题：发帖人的自杀风险是高还是低？",
    "“高自杀风险”", "「9级」", "『八级』", "“发帖人表现出高自杀风险”", "‘10级’",
    "并非高自杀风险", "不是8级", "没有表现出高自杀风险", "发帖人并非表现出高自杀风险", "是否表现出高自杀风险？",
    "自杀风险不是9级", "排除高风险", "6到10级", "6级以上", "高于6级", "6-10级", "0至10级",
]
_SAFE_ANSWERS = ["发帖人表现出低自杀风险。", "发帖人的自杀风险为2级。", "发帖人的自杀风险为0级。", "风险较低。"]
_FILLER = st.text(alphabet="今天我好累想哭工作家人朋友的了吗呢啊，。！ \n", max_size=12)
_EXPLANATION = st.sampled_from(["", "理由：发帖人表现出高自杀风险，自杀风险为9级。", "理由：“想死”，10级。",
                                "理由：风险较高"])
_PIECES = st.lists(st.one_of(st.sampled_from(_NOT_AN_ANSWER), st.sampled_from(_SAFE_ANSWERS), _FILLER),
                   max_size=6)


@settings(max_examples=400, deadline=None)
@given(pieces=_PIECES, explanation=_EXPLANATION, task=st.sampled_from([SR, SL]))
def test_no_alert_without_the_high_label_in_the_answer_position(pieces, explanation, task):
    response = "".join(pieces) + explanation
    assert analyze_answer(task, "帖子", response)["risk_alert"] is False, response


@settings(max_examples=100, deadline=None)
@given(before=_FILLER, explanation=_EXPLANATION)
def test_a_high_answer_in_the_answer_position_does_alert(before, explanation):
    # the property above could pass by never alerting; a real high answer must alert
    for task, answer in ((SR, "发帖人表现出高自杀风险。"), (SL, "发帖人的自杀风险为8级。")):
        assert analyze_answer(task, "帖子", before + "。" + answer + explanation)["risk_alert"] is True


# ---------------------------------------------------------------------------------------------- 0/1 label tables
# The peer repository's chat data (SupervisedVsLLM-EfficacyEval, data/cognitive distortion/*.jsonl) answers with a
# Markdown table: a header of the twelve label names and one row of 0/1. Its header names every label, so read
# as text it would assert all twelve; the table must be read by its cells, and a table that is not exactly one
# well-formed 0/1 row must fail, never be guessed.
_CD_NAMES = ["非此即彼", "以偏概全", "心理过滤", "否定正面思考", "读心术", "先知错误", "放大", "情绪化推理", "应该式",
             "乱贴标签", "罪责归己", "罪责归他"]
_PEER_HEADER = "id | " + " | ".join(_CD_NAMES) + "\n- | " + " | ".join(["----"] * 12)


def _row(*ones, prefix="735 | ", n=12):
    return prefix + " | ".join("1" if i in ones else "0" for i in range(n))


TABLES = [
    # the peer file's own layout: labels 3 and 7 (心理过滤, 放大)
    (_PEER_HEADER + "\n" + _row(2, 6), ["心理过滤", "放大"]),
    # outer pipes and a :--- separator, no id column
    ("| " + " | ".join(_CD_NAMES) + " |\n|" + "|".join([":---"] * 12) + "|\n| " + _row(9, prefix="") + " |",
     ["乱贴标签"]),
    # full-width pipes (folded by NFKC) and a sentence before the table
    ("分类结果如下：\n" + (_PEER_HEADER + "\n" + _row(0, 11)).replace("|", "｜"), ["非此即彼", "罪责归他"]),
    # columns in another order: cells are read by their header
    ("读心术 | 放大\n--- | ---\n0 | 1", ["放大"]),
    # no separator row: still a header of labels over a row of cells (read as text, it would assert 读心术)
    ("读心术 | 放大\n0 | 1", ["放大"]),
]
TABLE_FAILURES = [
    (_PEER_HEADER + "\n" + _row(2).replace("| 1 |", "| 2 |"), "table"),        # a value other than 0/1
    (_PEER_HEADER + "\n" + _row(2).replace("| 1 |", "| 是 |"), "table"),
    (_PEER_HEADER + "\n" + _row(2, n=11), "table"),                             # a cell missing
    (_PEER_HEADER + "\n" + _row(2) + "\n" + _row(5, prefix="736 | "), "table"),  # two rows: two posts?
    (_PEER_HEADER, "table"),                                                     # no row
    (_PEER_HEADER + "\n" + _row(), "no_label"),                                  # all zero
    ("这篇帖子体现了读心术的认知歪曲。\n" + _PEER_HEADER + "\n" + _row(2), "table"),  # labels outside it too
    ("读心术 | 读心术\n--- | ---\n0 | 1", "table"),                              # a label twice in the header
]


@pytest.mark.parametrize("text,expected", TABLES, ids=[f"table-{i}" for i in range(len(TABLES))])
def test_a_label_table_is_read_by_its_cells(text, expected):
    parsed = parse_response(CD, text)
    assert (parsed.ok, parsed.labels, parsed.kind) == (True, expected, None), parsed


@pytest.mark.parametrize("text,kind", TABLE_FAILURES, ids=[f"bad-table-{i}" for i in range(len(TABLE_FAILURES))])
def test_a_table_that_is_not_one_clean_row_fails(text, kind):
    parsed = parse_response(CD, text)
    assert (parsed.ok, parsed.labels, parsed.kind) == (False, [], kind), parsed


def test_pipes_that_are_not_a_header_over_a_row_are_text():
    assert parse_response(CD, "这篇帖子体现了读心术 | 放大的认知歪曲。").labels == ["读心术", "放大"]
    assert parse_response(CD, "读心术 | 放大").labels == ["读心术", "放大"]  # one line: a list, not a table
    assert parse_response(CD, "读心术 | 放大\n理由：「我知道他们都讨厌我」").labels == ["读心术", "放大"]


def test_the_parser_module_imports_alone():
    import subprocess
    import sys

    for module in ("mentalglm.tasks.parsing", "mentalglm.tasks.registry", "mentalglm.tasks"):
        result = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
