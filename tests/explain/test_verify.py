"""The verifier on teacher answers: each rule's failing cases give exactly that reason (the first rule broken), and
answers that keep to the rules pass with their explanation unchanged."""

import pytest

from mentalglm.config.explain import VerifySection
from mentalglm.explain.verify import REASONS, verify_answer

POST = "药已经攒了两个月，等这周爸妈出差我就吃下去。"
HIGH = "发帖人表现出高自杀风险。"
WHY = "帖子提到「药已经攒了两个月」，并计划「等这周爸妈出差我就吃下去」，有手段和时间，自杀意图明确。"
CD_POST = "同事没回我消息，肯定是讨厌我，我就是个废物。"
S = VerifySection()

PASS = [
    ("suicide_risk", POST, ["高自杀风险"], HIGH + "理由：" + WHY, WHY),
    # chatter before the template, full-width colon variants, whitespace around the explanation
    ("suicide_risk", POST, ["高自杀风险"], "好的。" + HIGH + "理由：  " + WHY + "\n", WHY),
    # “” quotes count as quotes too, as long as one 「」 is there and all are in the post
    ("suicide_risk", POST, ["高自杀风险"], HIGH + "理由：“药已经攒了两个月”，并计划「等这周爸妈出差我就吃下去」，意图明确而迫近。",
     "“药已经攒了两个月”，并计划「等这周爸妈出差我就吃下去」，意图明确而迫近。"),
    # multi-label in another order than the task's; a quote differing from the post only by full-width/space folding
    ("cognitive_distortion", CD_POST, ["乱贴标签", "读心术"],
     "这篇帖子体现了读心术, 乱贴标签的认知歪曲。理由：发帖人断定同事「肯定是讨厌我」，属于读心术；又说「我就是个废物」，属于乱贴标签。",
     "发帖人断定同事「肯定是讨厌我」，属于读心术；又说「我就是个废物」，属于乱贴标签。"),
    ("suicide_level", "遗书写好了，今晚就去天台。", ["8"],
     "发帖人的自杀风险为8级。理由：发帖人写道「遗书写好了」，还说「今晚就去天台」，计划具体而迫近。",
     "发帖人写道「遗书写好了」，还说「今晚就去天台」，计划具体而迫近。"),
]

FAIL = [
    ("unparseable", HIGH.replace("高自杀风险", "风险不明") + "理由：" + WHY),
    ("unparseable", "理由：" + WHY),                                    # nothing before 理由
    ("label_mismatch", "发帖人表现出低自杀风险。理由：" + WHY),           # the other label
    ("no_explanation", HIGH),
    ("no_explanation", HIGH + "理由：   "),
    ("no_quote", HIGH + "理由：发帖人已经准备好药物，并且给出了具体的时间，自杀意图明确而迫近。"),
    ("no_quote", HIGH + "理由：帖子提到“药已经攒了两个月”，有明确的手段和时间，自杀意图明确。"),  # “” only
    ("quote_not_in_post", HIGH + "理由：帖子提到「药已经攒了三个月」，有明确的手段和时间，自杀意图明确。"),
    ("quote_not_in_post", HIGH + "理由：帖子提到「药已经攒了两个月」和“我要跳楼”，有明确的手段和时间。"),
    ("too_short", HIGH + "理由：「药已经攒了两个月」。"),
    ("too_long", HIGH + "理由：帖子提到「药已经攒了两个月」" + "，计划明确" * 80 + "。"),
    ("not_chinese", HIGH + "理由：The writer says 「药已经攒了两个月」 and plans an overdose this week."),
    ("special_token", HIGH + "理由：帖子提到「药已经攒了两个月」，<|assistant|>有明确的手段和时间，自杀意图明确。"),
    ("special_token", HIGH + "理由：帖子提到「药已经攒了两个月」，[gMASK]<sop>有明确的手段和时间，意图明确。"),
    ("url", HIGH + "理由：帖子提到「药已经攒了两个月」，参见 https://example.com/a 的说明，意图明确。"),
    ("url", HIGH + "理由：帖子提到「药已经攒了两个月」，参见 www.example.cn 的说明，自杀意图明确。"),
    ("url", HIGH + "理由：帖子提到「药已经攒了两个月」，参见example.com/abc的说明，自杀意图明确。"),
    ("pii", HIGH + "理由：帖子提到「药已经攒了两个月」，发帖人留下微信 abc12345，自杀意图明确而迫近。"),
    ("pii", HIGH + "理由：帖子提到「药已经攒了两个月」，可拨打13812345678联系发帖人，自杀意图明确。"),
    ("pii", HIGH + "理由：帖子提到「药已经攒了两个月」，发帖人邮箱是 someone@example.org，自杀意图明确。"),
]


@pytest.mark.parametrize("task,post,gold,answer,explanation", PASS, ids=[f"pass-{i}" for i in range(len(PASS))])
def test_answers_within_the_rules_pass_unchanged(task, post, gold, answer, explanation):
    verdict = verify_answer(task, post, gold, answer, S)
    assert (verdict.ok, verdict.reason, verdict.explanation) == (True, None, explanation)


@pytest.mark.parametrize("reason,answer", FAIL, ids=[f"{r}-{i}" for i, (r, _) in enumerate(FAIL)])
def test_each_rule_rejects_with_its_reason(reason, answer):
    verdict = verify_answer("suicide_risk", POST, ["高自杀风险"], answer, S)
    assert (verdict.ok, verdict.reason, verdict.explanation) == (False, reason, None)


def test_multi_label_answers_must_name_exactly_the_gold_set():
    answer = "这篇帖子体现了读心术的认知歪曲。理由：发帖人断定同事「肯定是讨厌我」，没有证据就认定他人的负面想法。"
    assert verify_answer("cognitive_distortion", CD_POST, ["读心术", "乱贴标签"], answer, S).reason == "label_mismatch"
    assert verify_answer("cognitive_distortion", CD_POST, ["读心术"], answer, S).ok


def test_the_consistency_check_uses_the_model_on_the_explanation_alone():
    answer = HIGH + "理由：" + WHY
    seen = []

    def says(labels):
        return lambda text: seen.append(text) or labels

    assert verify_answer("suicide_risk", POST, ["高自杀风险"], answer, S, says(["高自杀风险"])).ok
    assert seen == [WHY]
    assert verify_answer("suicide_risk", POST, ["高自杀风险"], answer, S, says(["低自杀风险"])).reason == "inconsistent"
    cd = "这篇帖子体现了读心术, 乱贴标签的认知歪曲。理由：发帖人断定同事「肯定是讨厌我」，又说「我就是个废物」，两者都是认知歪曲。"
    gold = ["读心术", "乱贴标签"]
    assert verify_answer("cognitive_distortion", CD_POST, gold, cd, S, says(["乱贴标签", "放大"])).ok  # one gold label
    assert verify_answer("cognitive_distortion", CD_POST, gold, cd, S, says(["放大"])).reason == "inconsistent"


def test_every_reason_is_exercised():
    assert {r for r, _ in FAIL} | {"inconsistent"} == set(REASONS)
