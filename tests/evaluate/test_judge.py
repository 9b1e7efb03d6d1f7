"""The LLM judge against a scripted OpenAI-compatible judge (real HTTP): probability-weighted scores from log
probabilities, the parsed integer without them, malformed scores counted and never guessed, 429 retried; answers
cached; and through `evaluate`, judge scores in metrics.json and predictions.jsonl."""

import json
import math
import re
import sys

import pytest

from paths import REPO

sys.path.insert(0, str(REPO / "benchmarks"))

from scripted_teacher import ScriptedTeacher  # noqa: E402

from mentalglm.config.judge import JudgeConfig  # noqa: E402
from mentalglm.evaluate.judge import Judge  # noqa: E402
from mentalglm.tasks.rubric import CRITERIA  # noqa: E402


def _completion(text, top=None):
    choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
    if top is not None:
        choice["logprobs"] = {"content": [{"token": text, "logprob": math.log(max(top.values())), "top_logprobs": [
            {"token": t, "logprob": math.log(p)} for t, p in top.items()]}]}
    return {"id": "j", "object": "chat.completion", "choices": [choice]}


def respond(body, n):
    explanation = re.search(r"模型的解释：(.*?)\n", body["messages"][-1]["content"]).group(1)
    kind = explanation[0]
    if kind == "甲":  # log probabilities over the digits, and a non-digit alternative that is ignored
        return 200, _completion("2", {"2": 0.6, "3": 0.3, "1": 0.1, "好": 0.05})
    if kind == "乙":  # no log probabilities: the integer in the text
        return 200, _completion("我给 3 分")
    if kind == "丙":  # a score that is not one
        return 200, _completion("非常好")
    if kind == "戊":
        return 200, _completion("7")
    if kind == "丁":  # rate-limited once, then a sure 1
        return (429, {"error": {"message": "slow down"}}) if n == 0 else (200, _completion("1", {"1": 1.0}))
    raise AssertionError(kind)


def _config(url, tmp_path, **judge):
    return JudgeConfig.model_validate({"judge": {"base_url": url, "model": "judge", "temperature": 0.0,
                                                 "max_tokens": 4, "backoff_s": 0.01, "concurrency": 4, **judge},
                                       "top_logprobs": 5, "cache_dir": str(tmp_path / "cache")})


ROWS = [(f"r{k}", "suicide_risk", "今天很累。", "低自杀风险", f"{k}的解释") for k in "甲乙丙戊丁"]


def test_scores_failures_retries_and_the_cache(tmp_path):
    with ScriptedTeacher(respond=respond) as server:
        judge = Judge(_config(server.url, tmp_path))
        scores, counts = judge.score(ROWS)
        asked = len(server.requests)
        again, counts_again = Judge(_config(server.url, tmp_path)).score(ROWS)
        assert len(server.requests) == asked  # every answer came from the cache
    assert all(s[c] == pytest.approx(0.6 / 1.0 * 2 + 0.3 * 3 + 0.1 * 1) for s in scores[:1] for c in CRITERIA)
    assert [scores[1][c] for c in CRITERIA] == [3.0] * 4
    assert [scores[2][c] for c in CRITERIA] == [None] * 4 and [scores[3][c] for c in CRITERIA] == [None] * 4
    assert [scores[4][c] for c in CRITERIA] == [1.0] * 4
    assert counts == {"scored": 12, "failures": {"unparseable": 8}, "requests": 4 * 4 + 4 * 2} and asked == 24
    assert again == scores and counts_again["requests"] == 0


def test_judge_scores_go_into_metrics_and_predictions(sample_data_dir, tmp_path):
    from mentalglm.config import load_config, with_values
    from mentalglm.config.evaluate import EvaluateConfig
    from mentalglm.data.records import load_split
    from mentalglm.evaluate.run import evaluate
    from mentalglm.tasks import render_response

    answers = {r.instruction: render_response(r.task, r.labels, "甲：帖子里说得很清楚。")
               for r in load_split(sample_data_dir, "test")}
    cfg = load_config(EvaluateConfig, REPO / "configs/evaluate/tiny.yaml", [f"data.dir={sample_data_dir}"])
    with ScriptedTeacher(respond=respond) as server:
        metrics = evaluate(with_values(cfg, {"evaluate.out": tmp_path / "out"}), judge=_config(server.url, tmp_path),
                           generator=lambda xs: [answers[x] for x in xs], model_name="gold")
    assert metrics["judge"] == {"model": "judge", "items": 10, "scored": 40, "failures": {}, "requests": 40}
    for task in metrics["tasks"].values():
        assert task["judge_overall"] == pytest.approx(2.2)
    rows = [json.loads(x) for x in (tmp_path / "out" / "predictions.jsonl").read_text().splitlines()]
    assert all(row["judge_fluency"] == pytest.approx(2.2) for row in rows)
