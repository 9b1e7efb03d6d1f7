"""The planner's counts and formulas against what the model, PEFT, autograd and torch's FLOP counter say."""

import pytest
import torch

from paths import REPO

from mentalglm.config.schema import ModelConfig
from mentalglm.config.train import LoraSection
from mentalglm.plan.compute import model_flops_per_token, recompute_flops_per_token
from mentalglm.plan.memory import ZeroSettings, memory_plan, saved_activation_bytes
from mentalglm.plan.shape import model_shape
from mentalglm.train.compat import enable_activation_checkpointing

GLM4_9B_PUBLIC_PARAMS = 9.4e9  # the model card's "9.4B params"
ALL_PROJECTIONS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_up_proj", "down_proj"]


def _meta_model(config_dir):
    from transformers import AutoConfig, AutoModelForCausalLM

    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(config_dir))


def test_shapes_are_counted_once_per_architecture_rank_and_targets():
    model = ModelConfig(name_or_path="THUDM/glm-4-9b-chat-hf")
    first = model_shape(model, LoraSection(r=16, alpha=32, dropout=0.05))
    assert model_shape(model, LoraSection(r=16, alpha=8, dropout=0.0)) is first  # alpha, dropout: same shape
    other = model_shape(model, LoraSection(r=8, alpha=32))
    assert other is not first and other.lora_params * 2 == first.lora_params


def test_glm4_9b_shape_counts_exactly_from_the_shipped_config():
    shape = model_shape(ModelConfig(name_or_path="THUDM/glm-4-9b-chat-hf"), LoraSection(r=16, alpha=32))
    assert shape.source.endswith("configs/model/glm-4-9b-chat-hf/config.json (shipped reference shape)")
    meta = _meta_model(REPO / "configs/model/glm-4-9b-chat-hf")
    assert shape.total_params == sum(p.numel() for p in meta.parameters()) == 9_399_951_360
    assert abs(shape.total_params - GLM4_9B_PUBLIC_PARAMS) / GLM4_9B_PUBLIC_PARAMS < 0.001
    # LoRA: r x (in + out) per projection, by hand from the public sizes, and PEFT's own count
    h, kv, i, r = 4096, 2 * 128, 13696, 16
    per_layer = r * ((h + h) + 2 * (h + kv) + (h + h) + (h + 2 * i) + (i + h))
    assert shape.lora_params == 40 * per_layer == 47_595_520
    from peft import LoraConfig, get_peft_model

    peft = get_peft_model(meta, LoraConfig(r=16, lora_alpha=32, target_modules=ALL_PROJECTIONS, task_type="CAUSAL_LM"))
    assert peft.get_nb_trainable_parameters()[0] == shape.lora_params
    assert shape.head_params == shape.embedding_params == 151_552 * 4096
    assert shape.largest_module_params == 151_552 * 4096  # the LM head, gathered whole under ZeRO-3


def test_an_unknown_target_module_is_a_config_error_naming_the_key(tiny_model_dir):
    from mentalglm.config import ConfigError

    with pytest.raises(ConfigError, match="lora.target_modules"):
        model_shape(ModelConfig(name_or_path=str(tiny_model_dir)), LoraSection(target_modules=["query_key_value"]))


def _saved_bytes(model, ids) -> int:
    """Bytes of the tensors autograd keeps for backward (parameters excluded, shared storage counted once)."""
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen = {}

    def pack(t):
        storage = t.untyped_storage()
        if storage.data_ptr() not in params:
            seen[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(input_ids=ids, labels=ids)
    return sum(seen.values())


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("checkpointing", [False, True])
def test_activation_formula_equals_autograd_saved_tensors(tiny_model_dir, dtype, checkpointing):
    # As DeepSpeed trains it: the whole model, adapter included, in one dtype; dropout off (CPU dropout keeps
    # other tensors than CUDA's fused kernel, which the formula describes).
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    if checkpointing:
        enable_activation_checkpointing(model, reentrant=False)
        model.enable_input_require_grads()
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules=ALL_PROJECTIONS,
                                             task_type="CAUSAL_LM")).to(getattr(torch, dtype)).train()
    shape = model_shape(ModelConfig(name_or_path=str(tiny_model_dir)), LoraSection(r=8, dropout=0.0))
    for batch, seq in ((2, 64), (1, 200)):
        ids = torch.randint(5, shape.vocab, (batch, seq))
        measured = _saved_bytes(model, ids)
        planned = saved_activation_bytes(shape, batch * seq, 2 if dtype == "bfloat16" else 4, checkpointing, False)
        assert abs(planned - measured) <= 0.005 * measured, (batch, seq, planned, measured)


@pytest.mark.parametrize("checkpointing", [False, True])
def test_model_flops_match_torch_flop_counter(tiny_model_dir, checkpointing):
    # Eager attention, so the counter sees the attention matmuls (it does not count the CPU flash kernel).
    from peft import LoraConfig, get_peft_model
    from torch.utils.flop_counter import FlopCounterMode
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, attn_implementation="eager")
    model.enable_input_require_grads()  # as in training: every layer's input gradient is computed
    if checkpointing:
        enable_activation_checkpointing(model, reentrant=False)
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules=ALL_PROJECTIONS,
                                             task_type="CAUSAL_LM")).train()
    shape = model_shape(ModelConfig(name_or_path=str(tiny_model_dir)), LoraSection(r=8, dropout=0.0))
    batch, seq = 2, 96
    ids = torch.randint(5, shape.vocab, (batch, seq))
    with FlopCounterMode(display=False) as counter:
        model(input_ids=ids, labels=ids).loss.backward()
    measured = counter.get_total_flops()
    planned = model_flops_per_token(shape, seq) * batch * seq
    if checkpointing:
        planned += recompute_flops_per_token(shape, seq) * batch * seq
        assert abs(planned - measured) <= 0.005 * measured
    else:
        assert planned == measured


def _round_shape(**kw):
    from mentalglm.plan.shape import ModelShape

    base = dict(architecture="x", source="x", total_params=1000, embedding_params=100, matmul_params=800,
                head_params=100, lora_params=10, largest_module_params=100, small_params=20, hidden=8,
                intermediate=16, layers=2, heads=2, kv_heads=1, head_dim=4, vocab=50, lora_inputs_per_layer=0,
                lora_rank_outputs_per_layer=0)
    return ModelShape(**{**base, **kw})


@pytest.mark.parametrize("stage, weights, grads, optim", [
    (0, 2 * 1000, 2 * 10, 12 * 10),
    (1, 2 * 1000, 2 * 10, 12 * 10 / 4),
    (2, 2 * 1000, 2 * 10 / 4, 12 * 10 / 4),
    (3, 2 * 1000 / 4, 2 * 10 / 4, 12 * 10 / 4),
])
def test_model_states_follow_the_zero_paper(stage, weights, grads, optim):
    zero = ZeroSettings(stage=stage, offload_optimizer=False, offload_param=False, reduce_bucket=5,
                        prefetch_bucket=7, persistence_threshold=100)
    plan = memory_plan(_round_shape(), zero, world=4, bf16=True, micro_batch=1, seq_len=1, checkpointing=True,
                       lora_dropout=False)
    assert plan.terms["base weights"] + plan.terms["LoRA weights"] == weights + (2 * 10 / 4 if stage == 3 else 20)
    assert plan.terms["gradients (LoRA)"] == grads
    assert plan.terms["optimizer states"] == optim
    assert plan.terms.get("ZeRO-3 gathered weights") == ((100 + 7 + 20) * 2 if stage == 3 else None)
    assert plan.terms.get("DeepSpeed buffers") == (5 * 2 if stage >= 2 else None)


def test_offload_moves_states_to_cpu_memory_and_fp32_uses_4_4_8():
    zero = ZeroSettings(stage=3, offload_optimizer=True, offload_param=True, reduce_bucket=5, prefetch_bucket=7,
                        persistence_threshold=100)
    plan = memory_plan(_round_shape(), zero, world=2, bf16=False, micro_batch=1, seq_len=1, checkpointing=True,
                       lora_dropout=False)
    assert plan.terms["base weights"] == plan.terms["LoRA weights"] == plan.terms["optimizer states"] == 0.0
    assert plan.cpu_terms == {"base weights": 4 * 1000 / 2, "LoRA weights": 4 * 10 / 2,
                              "optimizer states": 8 * 10 / 2}
    assert plan.terms["gradients (LoRA)"] == 4 * 10 / 2


def _qwen2_config_folder(folder):
    from transformers import Qwen2Config

    Qwen2Config(vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                num_key_value_heads=2, max_position_embeddings=256).save_pretrained(folder)
    return folder


def test_all_linear_targets_every_projection_of_each_family(tiny_model_dir, tmp_path):
    from mentalglm.config import ConfigError, load_config
    from mentalglm.config.train import TrainConfig
    from mentalglm.train import with_lora_targets

    qwen = _qwen2_config_folder(tmp_path / "qwen2")
    expected = {tiny_model_dir: ("q_proj", "k_proj", "v_proj", "o_proj", "gate_up_proj", "down_proj"),
                qwen: ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")}
    for folder, names in expected.items():
        shape = model_shape(ModelConfig(name_or_path=str(folder)), LoraSection(r=4))  # the default: all-linear
        assert shape.lora_targets == names
        h, kv, i, layers = shape.hidden, shape.kv_heads * shape.head_dim, shape.intermediate, shape.layers
        mlp = 4 * (h + 2 * i) + 4 * (i + h) if "gate_up_proj" in names else 3 * 4 * (h + i)
        assert shape.lora_params == layers * (4 * ((h + h) + 2 * (h + kv) + (h + h)) + mlp)
        cfg = load_config(TrainConfig, REPO / "configs/train/tiny-lora.yaml", [f"model.name_or_path={folder}"])
        assert cfg.lora.target_modules == "all-linear"
        assert with_lora_targets(cfg).lora.target_modules == list(names)
    with pytest.raises(ConfigError, match=r"lora.target_modules: \['gate_up_proj'\] not in Qwen2ForCausalLM"):
        model_shape(ModelConfig(name_or_path=str(qwen)), LoraSection(target_modules=["q_proj", "gate_up_proj"]))


def test_plan_durations_are_printed_in_units_that_show_them():
    from mentalglm.plan.table import _duration

    assert [_duration(s) for s in (4e-6, 0.0123, 1.25, 754, 7384)] == ["4.0 µs", "12.3 ms", "1.2 s", "12 min 34 s",
                                                                       "2 h 03 min"]
