"""Ray Tune sweeps over Train V2 runs on CPU: ASHA, sampled values reaching the trainer, best export (resume:
test_sweep_resume.py)."""

import csv
import json
import sys
import time
from pathlib import Path

import pytest

from mentalglm.config import ConfigError, load_config, with_values
from mentalglm.config.tune import TuneConfig
from paths import REPO

MENTALGLM = Path(sys.executable).parent / "mentalglm"


def _overrides(tiny_model_dir, sample_data_dir, storage):
    return [f"model.name_or_path={tiny_model_dir}", f"data.dir={sample_data_dir}", f"run.storage_path={storage}",
            f"deepspeed.config={REPO / 'configs/deepspeed/zero2.json'}"]


@pytest.fixture(scope="module")
def sweep(ray_cluster, tiny_model_dir, sample_data_dir, tmp_path_factory):
    """The local-tiny sweep (4 trials, 2 at a time on 2 CPUs), run once for this module, with run storage in
    an object store (a file:// URI; s3:// on a cluster): Tune's state and the trials' runs go there, the
    sweep's outputs to run.local_dir, then uploaded too."""
    from mentalglm.tune import run_sweep

    root = tmp_path_factory.mktemp("sweeps")
    cfg = load_config(TuneConfig, REPO / "configs/tune/tiny-lora.yaml",
                      _overrides(tiny_model_dir, sample_data_dir, f"file://{root}/bucket")
                      + [f"run.local_dir={root}/local"])
    started = time.perf_counter()
    result = run_sweep(cfg)
    print(f"sweep wall time: {time.perf_counter() - started:.1f}s")
    assert result.sweep_dir == root / "local" / cfg.run.name
    result.store = root / "bucket" / cfg.run.name
    return result


def test_asha_stops_a_trial_and_every_trial_trains_with_its_sampled_values(sweep):
    rows = list(csv.DictReader((sweep.sweep_dir / "sweep.csv").open()))
    assert len(rows) == 4
    assert any(r["status"] == "STOPPED_EARLY" for r in rows), rows
    assert any(r["status"] == "COMPLETED" for r in rows), rows
    for row in rows:
        checkpoints = sorted((sweep.store / "trials" / row["trial_id"]).glob("checkpoint_step*"))
        assert checkpoints, row
        for ckpt in checkpoints:
            adapter = json.loads((ckpt / "adapter" / "adapter_config.json").read_text())
            assert adapter["r"] == int(row["lora.r"])
            assert adapter["lora_alpha"] == int(row["lora.alpha"])
            assert adapter["lora_dropout"] == pytest.approx(float(row["lora.dropout"]), abs=0)
            assert sorted(adapter["target_modules"]) == sorted(json.loads(row["lora.target_modules"]))
    assert (sweep.sweep_dir / "sweep.png").read_bytes()[:4] == b"\x89PNG"
    for name in ("sweep.csv", "sweep.png", "best/adapter_model.safetensors", "best/metrics.json"):
        assert (sweep.store / name).read_bytes() == (sweep.sweep_dir / name).read_bytes(), name


def test_best_adapter_loads_and_is_scored_by_evaluate(sweep, tiny_model_dir, sample_data_dir, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from mentalglm.config.evaluate import EvaluateConfig
    from mentalglm.evaluate.run import evaluate

    rows = list(csv.DictReader((sweep.sweep_dir / "sweep.csv").open()))
    best_row = min(rows, key=lambda r: float(r["val_loss"]))
    best = sweep.best_dir
    assert best == sweep.sweep_dir / "best"
    assert sweep.best_metrics["trial_id"] == best_row["trial_id"]
    assert json.loads((best / "adapter_config.json").read_text())["r"] == int(best_row["lora.r"])
    assert {"config.yaml", "metrics.json", "tokenizer.json"} <= {p.name for p in best.iterdir()}
    PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), best)
    cfg = load_config(EvaluateConfig, REPO / "configs/evaluate/tiny.yaml", [
        f"model.name_or_path={tiny_model_dir}", f"data.dir={sample_data_dir}", "evaluate.max_new_tokens=8",
        "evaluate.progress=false"])
    metrics = evaluate(with_values(cfg, {"evaluate.checkpoint": best, "evaluate.out": tmp_path / "eval"}))
    assert set(metrics["tasks"]) == {"cognitive_distortion", "suicide_risk", "suicide_level"}


def test_bad_search_space_and_oversized_trials_fail_before_any_trial(ray_cluster, tiny_model_dir, sample_data_dir,
                                                                    tmp_path):
    from mentalglm.tune import run_sweep

    base = _overrides(tiny_model_dir, sample_data_dir, tmp_path)
    with pytest.raises(ConfigError, match=r"tune\.search_space\.lora\.rank: .*unknown key|rank"):
        run_sweep(load_config(TuneConfig, REPO / "configs/tune/tiny-lora.yaml",
                              [*base, "tune.search_space={lora.rank: {choice: [4, 8]}}"]))
    with pytest.raises(ConfigError, match=r"tune\.search_space\.lora\.r: value 0 rejected"):
        run_sweep(load_config(TuneConfig, REPO / "configs/tune/tiny-lora.yaml",
                              [*base, "tune.search_space={lora.r: {choice: [0, 8]}}"]))
    with pytest.raises(ConfigError, match=r"search_space: .*uniform needs \[low, high\]"):
        load_config(TuneConfig, REPO / "configs/tune/tiny-lora.yaml",
                    [*base, "tune.search_space={lora.dropout: {uniform: [0.2, 0.1]}}"])
    with pytest.raises(ConfigError, match=r"scaling\.num_workers: 3 workers x 1 CPU need 3 CPUs, the Ray cluster has 2"):
        run_sweep(load_config(TuneConfig, REPO / "configs/tune/tiny-lora.yaml", [*base, "scaling.num_workers=3"]))
    assert not (tmp_path / "local-tiny-sweep" / "trials").exists()
