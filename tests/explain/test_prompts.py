"""The teacher prompts: every hand-written example passes the verifier the teacher's answers face, the request
carries the examples as earlier turns and the post with its gold labels, and the prompt hash follows the file."""

import shutil

import pytest

from mentalglm.config.explain import VerifySection
from mentalglm.explain.prompts import PROMPT_DIR, load_prompt
from mentalglm.explain.verify import verify_answer
from mentalglm.tasks import SCORED_TASKS, render_response


@pytest.mark.parametrize("task", SCORED_TASKS)
def test_every_example_passes_verification(task):
    prompt = load_prompt(task)
    assert prompt.version >= 1 and len(prompt.examples) >= 2 and len(prompt.sha256) == 64
    for ex in prompt.examples:
        verdict = verify_answer(task, ex.post, ex.labels, render_response(task, ex.labels, ex.explanation),
                                VerifySection())
        assert verdict.ok and verdict.explanation == ex.explanation, (ex.post, verdict)


def test_messages_put_examples_before_the_post_with_its_gold_labels():
    prompt = load_prompt("suicide_risk")
    messages = prompt.messages("今天又失眠了，好累。", ["低自杀风险"])
    assert [m["role"] for m in messages] == ["system"] + ["user", "assistant"] * len(prompt.examples) + ["user"]
    last = messages[-1]["content"]
    assert "帖子：今天又失眠了，好累。\n专家判断：低自杀风险\n" in last
    assert "发帖人表现出低自杀风险。理由：……" in last  # the exact template the parser reads
    assert messages[2]["content"] == render_response("suicide_risk", prompt.examples[0].labels,
                                                     prompt.examples[0].explanation)
    cd = load_prompt("cognitive_distortion").messages("我就是个废物。", ["乱贴标签", "以偏概全"])[-1]["content"]
    assert "专家标注：以偏概全、乱贴标签\n" in cd and "这篇帖子体现了以偏概全, 乱贴标签的认知歪曲。理由：……" in cd


def test_the_hash_follows_the_file_and_a_bad_example_is_named(tmp_path):
    for task in SCORED_TASKS:
        shutil.copy(PROMPT_DIR / f"{task}.yaml", tmp_path / f"{task}.yaml")
    assert load_prompt("suicide_risk", tmp_path).sha256 == load_prompt("suicide_risk").sha256
    path = tmp_path / "suicide_risk.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("危机干预", "危机处理"), encoding="utf-8")
    assert load_prompt("suicide_risk", tmp_path).sha256 != load_prompt("suicide_risk").sha256
    path.write_text(path.read_text(encoding="utf-8").replace("labels: [高自杀风险]", "labels: [中等风险]"),
                    encoding="utf-8")
    with pytest.raises(ValueError, match=r"suicide_risk\.yaml: examples\[0\]: unknown suicide_risk label"):
        load_prompt("suicide_risk", tmp_path)
