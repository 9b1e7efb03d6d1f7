"""Proof that the chain answers correctly, on both model families (GLM-4's and Qwen2's chat formats): LoRA on the
tiny model is trained (Ray Train + DeepSpeed, 2 workers)
until it reproduces a dozen records, then the exported adapter, loaded back, gives exactly the trained answers,
in `evaluate` and over HTTP from the served model.

This is the check that prompts, chat template, loss mask, stop tokens, checkpoint export, generation and parsing
agree with each other: any disagreement shows as a wrong label, an unparsed answer or a cut explanation.
"""

import json

import httpx
import pytest

from paths import REPO


@pytest.fixture(scope="module")
def memorised(ray_cluster, family, tmp_path_factory):
    """(adapter folder, data folder, records) of the memorise config, trained once for this module."""
    from mentalglm.config import DataBuildConfig, load_config
    from mentalglm.config.train import TrainConfig
    from mentalglm.data.build import build_dataset
    from mentalglm.data.records import load_split
    from mentalglm.train import train

    tmp = tmp_path_factory.mktemp("memorise")
    data_cfg = load_config(DataBuildConfig, REPO / "configs/data/memorise.yaml", [f"out_dir={tmp / 'data'}"])
    data_cfg.sources[0].splits = {"train": REPO / "sample_data/memorise/records.jsonl"}
    build_dataset(data_cfg)
    result = train(load_config(TrainConfig, REPO / "configs/train/tiny-lora-memorise.yaml", [
        f"model.name_or_path={family[1]}", f"data.dir={tmp / 'data'}", f"run.storage_path={tmp / 'runs'}",
        f"deepspeed.config={REPO / 'configs/deepspeed/zero2.json'}"]))
    assert result.metrics["finished"], result.metrics
    return result.final_dir, tmp / "data", load_split(tmp / "data", "train")


def test_the_memorise_set_covers_every_task_with_and_without_explanations_and_a_high_risk_post(memorised):
    _, _, records = memorised
    assert len(records) == 12
    for task in ("cognitive_distortion", "suicide_risk", "suicide_level"):
        mine = [r for r in records if r.task == task]
        assert any(r.explanation for r in mine) and any(not r.explanation for r in mine), task
    assert any(r.labels == ["高自杀风险"] for r in records)


def test_evaluate_reproduces_every_trained_answer(memorised, family, tmp_path):
    from mentalglm.config import load_config, with_values
    from mentalglm.config.evaluate import EvaluateConfig
    from mentalglm.evaluate.run import evaluate

    adapter, data_dir, records = memorised
    cfg = load_config(EvaluateConfig, REPO / "configs/evaluate/tiny.yaml",
                      [f"model.name_or_path={family[1]}", f"data.dir={data_dir}"])
    metrics = evaluate(with_values(cfg, {"evaluate.checkpoint": adapter, "evaluate.split": "train",
                                         "evaluate.out": tmp_path / "eval"}))["tasks"]
    assert metrics["cognitive_distortion"]["micro_f1"] == 1.0
    assert metrics["suicide_risk"]["high_f1"] == 1.0 and metrics["suicide_risk"]["weighted_f1"] == 1.0
    assert metrics["suicide_level"]["weighted_f1"] == 1.0 and metrics["suicide_level"]["mae"] == 0.0
    for task, m in metrics.items():
        assert m["parse_failure_rate"] == 0.0 and m["parse_failures"] == {}, task
        assert m["rouge_l"] >= 0.95, (task, m["rouge_l"])
        assert m["grounding_rate"] == 1.0, task  # every quoted span of every explanation is in its post
    by_id = {r.id: r for r in records}
    predictions = [json.loads(x) for x in (tmp_path / "eval" / "predictions.jsonl").read_text().splitlines()]
    assert [p["raw"] for p in predictions] == [by_id[p["id"]].response for p in predictions]


def test_the_served_adapter_answers_with_the_trained_labels_explanation_and_alert(memorised, family):
    from ray import serve

    from mentalglm.config import load_config
    from mentalglm.config.serve import ServeConfig
    from mentalglm.serve.service import start_service
    from mentalglm.serve.smoke import free_port

    adapter, data_dir, records = memorised
    cfg = load_config(ServeConfig, REPO / "configs/serve/local.yaml", [
        f"model.name_or_path={family[1]}", f"data.dir={data_dir}", f"serve.port={free_port()}",
        "serve.cpus_per_replica=0.5", "serve.torch_threads=1"])
    url = start_service(cfg, adapter)
    try:
        high = next(r for r in records if r.labels == ["高自杀风险"])
        level = next(r for r in records if r.task == "suicide_level" and r.explanation and int(r.labels[0]) < 6)
        answers = {}
        for record in (high, level):
            r = httpx.post(f"{url}/v1/analyze", json={"post": record.post, "task": record.task}, timeout=120)
            assert r.status_code == 200, r.text
            (answers[record.task],) = r.json()["results"]
        risk = answers["suicide_risk"]
        assert (risk["labels"], risk["explanation"], risk["parse_ok"]) == (high.labels, high.explanation, True)
        assert risk["risk_alert"] is True
        assert risk["evidence"] == ["药已经攒够了", "今晚就结束这一切"]
        assert all(span in high.post for span in risk["evidence"])
        low = answers["suicide_level"]
        assert (low["labels"], low["explanation"], low["risk_alert"]) == (level.labels, level.explanation, False)
        assert low["evidence"] and all(span in level.post for span in low["evidence"])
    finally:
        serve.shutdown()
