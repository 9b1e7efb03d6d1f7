"""The project's own service (tiny model, token required) as the LLM judge, over real HTTP: it refuses log
probabilities, so the judge asks without them; every explanation and criterion ends scored, or counted as an
unparseable score or an empty reply (`malformed`: a random-weight model may stop at once); no request fails over
HTTP."""

from conftest import TOKEN


def test_the_served_tiny_model_as_judge(served, tmp_path, monkeypatch):
    from mentalglm.config.judge import JudgeConfig
    from mentalglm.evaluate.judge import Judge
    from mentalglm.tasks.rubric import CRITERIA

    main_url, _, _ = served
    monkeypatch.setenv("JUDGE_TOKEN", TOKEN)
    cfg = JudgeConfig.model_validate({"judge": {"base_url": main_url, "model": "", "api_key_env": "JUDGE_TOKEN",
                                                "temperature": 0.0, "max_tokens": 4, "send_seed": False,
                                                "concurrency": 2},
                                      "top_logprobs": 0, "cache_dir": str(tmp_path / "cache")})
    rows = [("a", "suicide_risk", "今天又加班到很晚，好累。", "低自杀风险", "帖子只提到「好累」，没有自杀相关内容。"),
            ("b", "cognitive_distortion", "大家肯定都讨厌我。", "读心术", "发帖人认定「大家肯定都讨厌我」。")]
    scores, counts = Judge(cfg).score(rows)
    assert counts["requests"] == len(rows) * len(CRITERIA)
    assert set(counts["failures"]) <= {"unparseable", "malformed"}
    assert counts["scored"] + sum(counts["failures"].values()) == len(rows) * len(CRITERIA)
    assert all(s[c] is None or 0.0 <= s[c] <= 3.0 for s in scores for c in CRITERIA)
