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


@pytest.mark.parametrize("task,text,expected", OUTPUTS, ids=[f"{i:02d}-{o[0]}" for i, o in enumerate(OUTPUTS)])
def test_parse_realistic_output(task, text, expected):
    parsed = parse_response(task, text)
    if expected is None:
        assert not parsed.ok and parsed.labels == [] and parsed.error
    else:
        assert parsed.ok and parsed.labels == expected, parsed


def test_explanation_is_returned_verbatim():
    parsed = parse_response(SL, "发帖人的自杀风险为８级。理由：帖子说“药已经攒了一百多片”，计划具体。")
    assert parsed.labels == ["8"]
    assert parsed.explanation == "帖子说“药已经攒了一百多片”，计划具体。"


def test_there_are_at_least_forty_cases():
    assert len(OUTPUTS) >= 40
