"""From a raw answer to an /v1/analyze result: labels, evidence that really occurs in the post, the risk alert."""

import pytest

from mentalglm.serve.analysis import analyze_answer, risk_alert

POST = "我觉得自己是个废物，大家都讨厌我，想一了百了。"


def test_high_risk_answer_with_grounded_and_invented_quotes():
    raw = "发帖人表现出高自杀风险。理由：帖子说“想一了百了”，还说“活不下去”，并且“想一了百了”。"
    result = analyze_answer("suicide_risk", POST, raw)
    assert result["labels"] == ["高自杀风险"] and result["parse_ok"] is True
    assert result["evidence"] == ["想一了百了"]  # "活不下去" is not in the post; duplicates collapse
    assert result["risk_alert"] is True and result["raw"] == raw
    assert result["explanation"].startswith("帖子说")


@pytest.mark.parametrize("task, labels, alert", [
    ("suicide_risk", ["高自杀风险"], True), ("suicide_risk", ["低自杀风险"], False),
    ("suicide_level", ["6"], True), ("suicide_level", ["10"], True), ("suicide_level", ["5"], False),
    ("cognitive_distortion", ["读心术"], False),
])
def test_risk_alert(task, labels, alert):
    assert risk_alert(task, labels) is alert


def test_level_answer_and_distortion_answer():
    level = analyze_answer("suicide_level", POST, "发帖人的自杀风险为七级。理由：提到“一了百了”。")
    assert level["labels"] == ["7"] and level["risk_alert"] is True and level["evidence"] == ["一了百了"]
    cd = analyze_answer("cognitive_distortion", POST, "这篇帖子体现了乱贴标签, 读心术的认知歪曲。理由：称自己“是个废物”。")
    assert cd["labels"] == ["读心术", "乱贴标签"] and cd["risk_alert"] is False and cd["evidence"] == ["是个废物"]


def test_unparsable_answer_never_alerts():
    result = analyze_answer("suicide_risk", POST, "高高高 理由：“想一了百了”")
    assert result["parse_ok"] is False and result["labels"] == [] and result["risk_alert"] is False
    assert result["evidence"] == ["想一了百了"]
