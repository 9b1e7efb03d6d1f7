"""Evaluation reads the split through `datasets` (not the JSON lines) and answers it chunk by chunk; the scores are
those of one pass. The answer source here returns each record's gold answer, so every metric is known."""

import shutil

import pytest

from paths import REPO


def _cfg(data_dir, *overrides):
    from mentalglm.config import load_config
    from mentalglm.config.evaluate import EvaluateConfig

    return load_config(EvaluateConfig, REPO / "configs/evaluate/tiny.yaml", [f"data.dir={data_dir}", *overrides])


def test_chunked_evaluation_from_parquet_scores_gold_answers_perfectly(sample_data_dir, tmp_path, monkeypatch):
    from mentalglm.data.records import load_split
    from mentalglm.evaluate import run

    data = tmp_path / "data"
    shutil.copytree(sample_data_dir, data)
    gold = {r.instruction: r.response for r in load_split(data, "test")}
    (data / "test.jsonl").unlink()  # evaluation must not need it
    calls = []

    def answers(instructions):
        calls.append(len(instructions))
        return [gold[text] for text in instructions]

    monkeypatch.setattr(run, "EVAL_CHUNK", 3)
    metrics = run.evaluate(_cfg(data, f"evaluate.out={tmp_path / 'out'}"), generator=answers, model_name="gold")
    assert calls == [3, 3, 3, 1] and metrics["generation"]["records"] == 10
    tasks = metrics["tasks"]
    assert tasks["cognitive_distortion"]["micro_f1"] == 1.0 and tasks["suicide_risk"]["accuracy"] == 1.0
    assert tasks["suicide_level"]["accuracy"] == 1.0
    assert all(t["parse_failure_rate"] == 0.0 for t in tasks.values())
    assert tasks["suicide_level"]["rouge_l"] == pytest.approx(1.0)  # gold explanations against themselves

    limited = run.evaluate(_cfg(data, "evaluate.limit=5", f"evaluate.out={tmp_path / 'five'}"), generator=answers)
    assert sum(t["n"] for t in limited["tasks"].values()) == 5


def test_a_split_the_build_did_not_write_is_a_config_error(sample_data_dir, tmp_path):
    from mentalglm.config import ConfigError
    from mentalglm.evaluate.run import load_eval_records

    with pytest.raises(ConfigError) as err:
        load_eval_records(_cfg(sample_data_dir), "nosuchsplit")
    assert str(err.value).startswith("data.dir: ") and "--split nosuchsplit" in str(err.value)


def test_score_refuses_predictions_not_aligned_with_records(sample_data_dir):
    from mentalglm.data.split_records import split_records
    from mentalglm.evaluate.scoring import parse_answers, score

    records = list(split_records(sample_data_dir, "test"))
    predictions = parse_answers(records, [r.response for r in records])
    with pytest.raises(ValueError, match="predictions for"):
        score(records, predictions[:-1], "test", "m")
    with pytest.raises(ValueError, match="is not for record"):
        score(records, predictions[::-1], "test", "m")


@pytest.mark.parametrize("zero_shot", [True, False])
def test_zero_shot_prompts_carry_each_tasks_guide_and_metrics_say_which_prompt(sample_data_dir, tmp_path, zero_shot):
    from mentalglm.data.records import load_split
    from mentalglm.evaluate import run
    from mentalglm.tasks import zero_shot_guide

    gold = {r.instruction: r for r in load_split(sample_data_dir, "test")}
    asked = []

    def answers(instructions):
        asked.extend(instructions)
        plain = [next(i for i in gold if text.startswith(i)) for text in instructions]
        return [gold[i].response for i in plain]

    metrics = run.evaluate(_cfg(sample_data_dir, f"evaluate.out={tmp_path / 'out'}",
                                f"evaluate.zero_shot={str(zero_shot).lower()}"), generator=answers)
    suffixes = [text[len(next(i for i in gold if text.startswith(i))):] for text in asked]
    expected = [zero_shot_guide(gold[next(i for i in gold if t.startswith(i))].task) if zero_shot else ""
                for t in asked]
    assert suffixes == expected and len(asked) == 10
    assert metrics["generation"]["prompt"] == ("zero-shot" if zero_shot else "c-imhi")
    assert all(t["parse_failure_rate"] == 0.0 for t in metrics["tasks"].values())
