"""`mentalglm evaluate` end to end on a LoRA adapter folder, `baseline`, and `evaluate compare`."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from paths import REPO

MENTALGLM = Path(sys.executable).parent / "mentalglm"


@pytest.fixture(scope="module")
def trained_adapter(tiny_adapter_dir):
    """A LoRA adapter folder in the layout `mentalglm train` exports to final/ (PEFT files + tokenizer).
    Training itself is covered by tests/train and by the pipeline test, which evaluates a trained adapter."""
    return tiny_adapter_dir


def _cli(*args, cwd=REPO):
    return subprocess.run([str(MENTALGLM), *args], capture_output=True, text=True, timeout=600, cwd=cwd)


def test_evaluate_writes_all_four_outputs(trained_adapter, tiny_model_dir, sample_data_dir, tmp_path):
    out = tmp_path / "eval"
    result = _cli("evaluate", "configs/evaluate/tiny.yaml", f"model.name_or_path={tiny_model_dir}",
                  f"data.dir={sample_data_dir}", "evaluate.max_new_tokens=24", "--checkpoint", str(trained_adapter),
                  "--split", "test", "--out", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["split"] == "test" and metrics["model"] == str(trained_adapter)
    assert set(metrics["tasks"]) == {"cognitive_distortion", "suicide_risk", "suicide_level"}
    assert metrics["tasks"]["cognitive_distortion"]["n"] == 4 and metrics["tasks"]["suicide_level"]["n"] == 3
    for task in metrics["tasks"].values():
        assert 0.0 <= task["parse_failure_rate"] <= 1.0
    assert {"rouge_l", "bleu4", "grounding_rate"} <= set(metrics["tasks"]["suicide_level"])
    rows = [json.loads(x) for x in (out / "predictions.jsonl").read_text().splitlines()]
    assert len(rows) == 10
    assert set(rows[0]) >= {"id", "task", "gold", "predicted", "raw", "parse_ok"}
    assert all((r["predicted"] is None) == (not r["parse_ok"]) for r in rows)
    assert "# Evaluation" in (out / "report.md").read_text()
    for task in metrics["tasks"]:
        png = out / f"confusion_{task}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_evaluate_over_two_ray_actors_matches_one_process(trained_adapter, tiny_model_dir, sample_data_dir, tmp_path):
    from mentalglm.config import load_config, with_values
    from mentalglm.config.evaluate import EvaluateConfig
    from mentalglm.evaluate.run import evaluate

    cfg = load_config(EvaluateConfig, REPO / "configs/evaluate/tiny.yaml", [
        f"model.name_or_path={tiny_model_dir}", f"data.dir={sample_data_dir}", "evaluate.max_new_tokens=16",
        "evaluate.progress=false"])
    single = evaluate(with_values(cfg, {"evaluate.checkpoint": trained_adapter, "evaluate.out": tmp_path / "one"}))
    cfg.evaluate.num_workers = 2
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        spread = evaluate(with_values(cfg, {"evaluate.checkpoint": trained_adapter, "evaluate.out": tmp_path / "two"}))
    finally:
        ray.shutdown()
    one = (tmp_path / "one" / "predictions.jsonl").read_text()
    two = (tmp_path / "two" / "predictions.jsonl").read_text()
    assert one == two
    assert single["tasks"] == spread["tasks"]


def test_baseline_and_compare(tiny_model_dir, sample_data_dir, tmp_path):
    out = tmp_path / "baseline"
    result = _cli("baseline", "configs/evaluate/tiny.yaml", f"data.dir={sample_data_dir}", "--split", "test",
                  "--out", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["model"] == "tfidf-char-logreg"
    assert metrics["tasks"]["suicide_risk"]["parse_failure_rate"] == 0.0
    assert "grounding_rate" not in metrics["tasks"]["suicide_level"]
    other = tmp_path / "other.json"
    other.write_text(json.dumps({**metrics, "model": "other-model"}))
    table = _cli("evaluate", "compare", str(out / "metrics.json"), str(other))
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0] == "| task | metric | tfidf-char-logreg | other-model |"
    assert any(line.startswith("| suicide_risk | high_f1 |") for line in lines)
    missing = _cli("evaluate", "compare", str(tmp_path / "nope.json"))
    assert missing.returncode == 2 and "not found" in missing.stderr
    for shape in ("[1, 2]", '{"tasks": 3}', '{"tasks": {"suicide_risk": [0.5]}}'):
        other.write_text(shape)
        wrong = _cli("evaluate", "compare", str(other))
        assert (wrong.returncode, wrong.stderr) == (2, f"error: {other}: not a metrics.json of `mentalglm evaluate` "
                                                       "(an object whose `tasks` maps each task to its metrics)\n")


def test_baseline_on_shared_val(shared_data, tmp_path):
    from mentalglm.config import DataBuildConfig, load_config, with_values
    from mentalglm.config.evaluate import EvaluateConfig
    from mentalglm.data.build import build_dataset
    from mentalglm.evaluate.baseline import run_baseline

    data_cfg = load_config(DataBuildConfig, REPO / "configs/data/cimhi.yaml",
                      [f"out_dir={tmp_path / 'cimhi'}", "splits=[train,val]"])  # the mirror has no test files
    for source in data_cfg.sources:
        source.splits = {k: shared_data / v.relative_to("data/raw") for k, v in source.splits.items()}
    build_dataset(data_cfg)
    cfg = load_config(EvaluateConfig, REPO / "configs/evaluate/tiny.yaml", [f"data.dir={tmp_path / 'cimhi'}"])
    metrics = run_baseline(with_values(cfg, {"evaluate.split": "val", "evaluate.out": tmp_path / "out"}))
    tasks = metrics["tasks"]
    assert tasks["cognitive_distortion"]["n"] == 272 and tasks["suicide_level"]["n"] == 636
    # Far above chance on real data: a working classifier, not a constant.
    assert tasks["cognitive_distortion"]["micro_f1"] > 0.4
    assert tasks["suicide_risk"]["high_f1"] > 0.6
    assert tasks["suicide_level"]["accuracy"] > 0.2
