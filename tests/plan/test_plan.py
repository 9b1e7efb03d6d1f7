"""`mentalglm plan`: the 9B table, the GPU it plans for, token counts from the built data, the heaviest sweep
trial, and `train` refusing a plan over its GPU before any worker starts."""

import re

import pytest

from paths import REPO

from mentalglm.config import ConfigError, load_config
from mentalglm.config.train import TrainConfig
from mentalglm.config.tune import TuneConfig
from mentalglm.plan import format_plan, make_plan
from mentalglm.plan.hardware import GIB, GPUS, worker_gpu
from mentalglm.config.deepspeed import read_deepspeed_config

NINE_B = REPO / "configs/train/glm4-9b-lora.yaml"


@pytest.fixture
def in_repo(monkeypatch):
    monkeypatch.chdir(REPO)  # the cluster configs name cluster.yaml and configs/deepspeed/ relative to the root


def _nine_b(*overrides) -> TrainConfig:
    return load_config(TrainConfig, NINE_B, list(overrides))


def test_plan_of_the_9b_config_prints_the_table(in_repo, capsys):
    from mentalglm.cli import main

    assert main(["plan", str(NINE_B)]) == 0
    out = capsys.readouterr().out
    assert "9,399,951,360 base (frozen) + 47,595,520 LoRA (r=16" in out
    assert "GPU        A100-40G (39.4 GiB) from cluster.yaml node type gpu_worker (p4d.24xlarge)" in out
    plan = make_plan(_nine_b("stages=[]"), read_deepspeed_config(_nine_b()), with_data=False)
    total = re.search(r"^    total\s+([\d.]+)$", out, re.M)
    assert float(total.group(1)) == round(plan.memory.total / GIB, 2)
    assert "fits" in out and "plan: glm4-9b-cimhi / stage imhi" in out and "stage cimhi" in out
    # with checkpointing on, activations are the layer inputs plus the loss's fp32 vocabulary tensors
    tokens, vocab = 4 * 1024, 151_552
    expected = tokens * (40 * 2 * 4096 + 4 * 4096 + 4 + 4 * vocab + 8) + tokens * 8 * vocab
    assert plan.memory.terms["activations"] == expected
    assert "per optimizer step" in out and "131,072 tokens: 4 x 1024 x 4 x 8" in out


def test_train_refuses_a_plan_over_its_gpu_before_any_worker_starts(in_repo):
    import ray

    from mentalglm.train import train

    cfg = _nine_b("train.gradient_checkpointing=false", "train.micro_batch_size=8")
    plan = make_plan(cfg, read_deepspeed_config(cfg), with_data=False)
    assert plan.fits is False
    with pytest.raises(ConfigError) as err:
        train(cfg)
    message = str(err.value)
    assert f"{plan.memory.total / GIB:.1f} GiB per GPU" in message
    assert "exceeds A100-40G's 39.4 GiB less plan.reserve_gib 2" in message
    assert "train.gradient_checkpointing=true:" in message and "train.micro_batch_size=1" in message
    assert not ray.is_initialized()
    # the check can be turned off; then the next check (here: the data on the cluster's mount) speaks
    with pytest.raises(ConfigError, match="data.dir"):
        train(load_config(TrainConfig, NINE_B, ["train.gradient_checkpointing=false", "train.micro_batch_size=8",
                                                "plan.check=false"]))
    assert not ray.is_initialized()


def test_the_gpu_comes_from_plan_gpu_then_the_cluster_file_then_the_accelerator(in_repo):
    assert worker_gpu("H100", REPO / "cluster.yaml", "A100")[0] is GPUS["H100"]
    gpu, where = worker_gpu(None, REPO / "cluster.yaml", "A100")
    assert gpu is GPUS["A100-40G"] and "p4d.24xlarge" in where
    assert worker_gpu(None, None, "A100-80G")[0] is GPUS["A100-80G"]
    assert worker_gpu(None, None, "A100")[0] is GPUS["A100-40G"]  # the smaller card when Ray's name is ambiguous
    assert worker_gpu(None, None, None)[0] is None
    with pytest.raises(ConfigError, match="plan.gpu: unknown GPU type 'B300'"):
        worker_gpu("B300", None, None)


def test_plan_counts_tokens_with_the_models_tokenizer(tiny_model_dir, sample_data_dir):
    from transformers import AutoTokenizer

    from mentalglm.data.split_records import split_records
    from mentalglm.data.tokenization import encode_records
    from mentalglm.plan import total_steps

    cfg = load_config(TrainConfig, REPO / "configs/train/tiny-lora.yaml", [
        f"model.name_or_path={tiny_model_dir}", f"data.dir={sample_data_dir}",
        f"deepspeed.config={REPO / 'configs/deepspeed/zero2.json'}"])
    plan = make_plan(cfg, read_deepspeed_config(cfg))
    records = list(split_records(sample_data_dir, "train").only(cfg.data.tasks))
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    lengths = [len(e.input_ids) for e in encode_records(records, tokenizer, 256, 16)]
    assert (plan.data.examples, plan.data.tokens) == (len(records), sum(lengths))
    assert plan.data.how == "counted with the model's tokenizer"
    assert plan.total_steps == total_steps(len(records), cfg, 2)
    assert plan.usable_bytes is None and plan.fits is None  # a CPU run: nothing to check against


def test_without_a_local_tokenizer_tokens_are_estimated_from_characters(in_repo, sample_data_dir):
    cfg = _nine_b(f"data.dir={sample_data_dir}", "stages=[]", "plan.chars_per_token=2")
    plan = make_plan(cfg, read_deepspeed_config(cfg))
    from mentalglm.data.split_records import split_records

    records = list(split_records(sample_data_dir, "train"))
    expected = sum(min(1024, round((len(r.instruction) + len(r.response)) / 2) + 8) for r in records)
    assert plan.data.tokens == expected and plan.data.how.startswith("estimated at 2 characters per token")
    assert plan.total_steps == 0 and "no optimizer step" in format_plan(plan)  # 128 examples per step
    small = make_plan(_nine_b(f"data.dir={sample_data_dir}", "stages=[]", "train.grad_accum=1",
                              "scaling.num_workers=1"), read_deepspeed_config(cfg))
    assert small.total_steps == 3 * -(-len(records) // 4)  # 3 epochs of one step per batch of 4
    assert small.run_model_flops > 0 and small.seconds(small.run_model_flops) > 0


def test_the_heaviest_trial_of_the_9b_sweep(in_repo):
    from mentalglm.tune import heaviest_trial

    cfg = load_config(TuneConfig, REPO / "configs/tune/glm4-9b-lora.yaml")
    trial, chosen = heaviest_trial(cfg)
    assert chosen == {"lora.r": 64, "lora.target_modules": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_up_proj",
                                                              "down_proj"]}
    assert trial.lora.r == 64 and trial.train.lr == cfg.train.lr  # lr changes no memory: the base value


@pytest.mark.parametrize("value, kind", [("true", "non_reentrant"), ("false", None), ("reentrant", "reentrant"),
                                         ("non_reentrant", "non_reentrant")])
def test_gradient_checkpointing_values(value, kind):
    from mentalglm.config.train import checkpointing_kind

    cfg = _nine_b(f"train.gradient_checkpointing={value}")
    assert checkpointing_kind(cfg.train.gradient_checkpointing) == kind


def test_an_unknown_checkpointing_kind_names_the_key():
    with pytest.raises(ConfigError, match="train.gradient_checkpointing"):
        _nine_b("train.gradient_checkpointing=selective")


def test_tune_refuses_a_sweep_whose_heaviest_trial_does_not_fit(in_repo, sample_data_dir):
    # The base config fits (micro batch 1); the sampled micro batch 8 without checkpointing would not. The model
    # is the shipped reference config folder itself: preflight reads its shape, no weights are loaded.
    import ray

    from mentalglm.tune import run_sweep

    cfg = load_config(TuneConfig, REPO / "configs/tune/glm4-9b-lora.yaml", [
        "model.name_or_path=configs/model/glm-4-9b-chat-hf", f"data.dir={sample_data_dir}",
        "train.gradient_checkpointing=false", "train.micro_batch_size=1",
        "tune.search_space={train.micro_batch_size: {choice: [1, 8]}}"])
    with pytest.raises(ConfigError, match=r"plan \(glm4-9b-sweep\): .* micro_batch_size 8 x max_seq_len 1024"):
        run_sweep(cfg)
    assert not ray.is_initialized()
