"""configs/train/glm4-9b-lora.yaml itself, on this machine's CPUs: only the model, the data, the scale and where
the run lives are overridden, so what is tested is the 9B config's own training settings: ZeRO-3, activation
checkpointing, bf16, two stages (IMHI, then C-IMHI from stage 1's adapter), grad accumulation 4, the cosine
schedule, LoRA r=16 on every projection."""

import csv
from pathlib import Path

import pytest
import yaml

from paths import REPO

NINE_B = REPO / "configs/train/glm4-9b-lora.yaml"
# bf16 weights on both sides: the reloaded adapter's logits may differ by bf16 rounding of the merged sums
BF16_LOGIT_TOLERANCE = 0.05


def _imhi_data(tmp_path: Path) -> Path:
    """40 fictional IMHI-format rows (English instruction and answer), built as the IMHI stage's data."""
    from mentalglm.config import DataBuildConfig
    from mentalglm.data.build import build_dataset

    feelings = ["tired of everything", "hopeful about my new job", "unable to sleep again", "calm after a walk",
                "worried about exams", "lonely since I moved", "proud of my sister", "empty most mornings"]
    raw = tmp_path / "imhi.csv"
    with raw.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["query", "gpt-3.5-turbo"])
        for n in range(40):
            feeling = feelings[n % len(feelings)]
            post = f"Day {n}: I have been feeling {feeling} and I do not know what to tell my friends."
            answer = ("Yes. Reasoning: the poster describes persistent low mood." if n % 2 else
                      "No. Reasoning: the post describes an ordinary day without signs of depression.")
            writer.writerow([f'Consider this post: "{post}" Question: Does the poster suffer from depression?',
                             answer])
    out = tmp_path / "imhi-data"
    build_dataset(DataBuildConfig(out_dir=out, sources=[{"name": "imhi_dep", "format": "imhi", "task": "imhi",
                                                         "splits": {"train": raw}}]))
    return out


@pytest.mark.slow  # ~2 min: two ZeRO-3 bf16 runs; in `make test-slow`
def test_the_9b_config_trains_both_stages_on_cpu(ray_cluster, tiny_model_dir, sample_data_dir, tmp_path,
                                                  monkeypatch):
    import torch
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    from mentalglm.config.train import TrainConfig
    from mentalglm.train import train

    monkeypatch.chdir(REPO)  # its deepspeed.config and ray.cluster are relative to the repository
    raw = yaml.safe_load(NINE_B.read_text(encoding="utf-8"))
    raw["model"]["name_or_path"] = str(tiny_model_dir)                               # model
    raw["data"]["dir"] = str(sample_data_dir)                                         # data
    raw["stages"][0]["overrides"]["data.dir"] = str(_imhi_data(tmp_path))
    raw["scaling"] = {"num_workers": 2, "use_gpu": False, "cpus_per_worker": 1}       # scale
    raw["run"].update(storage_path=str(tmp_path / "runs"), local_dir=str(tmp_path / "local"))  # where it lives
    cfg = TrainConfig.model_validate(raw)
    assert (cfg.deepspeed.config, cfg.train.gradient_checkpointing, cfg.train.precision, cfg.train.grad_accum,
            cfg.train.schedule, cfg.lora.r, [s.name for s in cfg.stages]) == (
        Path("configs/deepspeed/zero3.json"), True, "bf16", 4, "cosine", 16, ["imhi", "cimhi"])

    result = train(cfg)

    stage1 = yaml.safe_load((tmp_path / "runs/glm4-9b-cimhi/imhi/final/config.yaml").read_text())
    assert stage1["data"]["tasks"] == ["imhi"] and stage1["train"]["epochs"] == 1
    stage2 = yaml.safe_load((result.final_dir / "config.yaml").read_text())
    assert stage2["train"]["init_adapter"].endswith("glm4-9b-cimhi/imhi/final")
    m = result.metrics
    # 2 workers x 4 x grad_accum 4 = 32 examples a step: one step per epoch of the sample, 3 epochs
    assert m["finished"] and m["step"] == m["total_steps"] == 3
    assert m["lr"] == 0.0  # the cosine schedule ends at zero
    weights = load_file(result.final_dir / "adapter_model.safetensors")
    lora_b = [v for k, v in weights.items() if "lora_B" in k]
    assert len(lora_b) == 4 * 6 and all(v.float().abs().max().item() > 0 for v in lora_b)  # gathered, trained
    probe = torch.load(Path(result.checkpoint) / "probe.pt")
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.bfloat16)
    model = PeftModel.from_pretrained(base, result.final_dir).eval()
    with torch.no_grad():
        logits = model(input_ids=probe["input_ids"], attention_mask=probe["attention_mask"]).logits.float()
    assert (logits - probe["logits"]).abs().max().item() <= BF16_LOGIT_TOLERANCE
