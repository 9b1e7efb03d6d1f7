"""The tiny GLM-4 model folder: offline loading, chat template, exact Chinese round trip, presets."""

import json
import subprocess
import sys

import pytest

from mentalglm.model.chat_format import GLM4_SPECIAL_TOKENS, render_prompt, stop_token_ids
from paths import REPO


def test_folder_loads_offline_with_auto_classes(tiny_model_dir):
    # A fresh interpreter with the hub switched off, loading by path exactly as for the real model.
    code = (
        "import sys, torch\n"
        "from transformers import AutoTokenizer, AutoModelForCausalLM\n"
        f"p = {str(tiny_model_dir)!r}\n"
        "tok = AutoTokenizer.from_pretrained(p); model = AutoModelForCausalLM.from_pretrained(p)\n"
        "ids = tok.apply_chat_template([{'role': 'user', 'content': '你好'}], add_generation_prompt=True,"
        " return_tensors='pt', return_dict=True)\n"
        "out = model.generate(**ids, max_new_tokens=3, do_sample=False)\n"
        "print(type(model).__name__, out.shape[1] > ids['input_ids'].shape[1])\n"
    )
    env = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "GlmForCausalLM True"


def test_model_is_glm_with_a_few_million_parameters(tiny_model_dir):
    from transformers import AutoModelForCausalLM

    config = json.loads((tiny_model_dir / "config.json").read_text())
    assert config["model_type"] == "glm" and config["architectures"] == ["GlmForCausalLM"]
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    n = sum(p.numel() for p in model.parameters())
    assert 1_000_000 <= n <= 10_000_000
    names = {name.rsplit(".", 1)[0].rsplit(".", 1)[-1] for name, _ in model.named_parameters()}
    assert {"q_proj", "k_proj", "v_proj", "o_proj", "gate_up_proj", "down_proj"} <= names


def test_chat_template_renders_glm4_format(tiny_model_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    assert render_prompt(tok, "问题") == "[gMASK]<sop><|user|>\n问题<|assistant|>\n"
    full = tok.apply_chat_template([{"role": "user", "content": "问"}, {"role": "assistant", "content": "答"}],
                                   tokenize=False)
    assert full == "[gMASK]<sop><|user|>\n问<|assistant|>\n答"
    for token in GLM4_SPECIAL_TOKENS:
        assert tok.convert_tokens_to_ids(token) != tok.unk_token_id and len(tok.tokenize(token)) == 1
    assert [tok.convert_ids_to_tokens(i) for i in stop_token_ids(tok)] == ["<|endoftext|>", "<|user|>",
                                                                            "<|observation|>"]


@pytest.mark.parametrize("text", [
    "考虑一下这个帖子：“我真的好累，不想再坚持了。”问题：发帖人的自杀风险是高还是低？",
    "生僻字：龘靐齉爩，全角：ＡＢＣ１２３！，emoji：😢🫠，混合 English words  and  double  spaces\t制表符\n换行",
    "繁體中文：我覺得自己很沒用。",
])
def test_chinese_text_round_trips_exactly(tiny_model_dir, text):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert tok.decode(ids) == text


def _preset_model(preset: str, vocab_size: int):
    import torch
    from transformers import AutoModelForCausalLM

    from mentalglm.model.tiny import preset_config

    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(preset_config(preset, vocab_size, pad_token_id=0))


def test_small_preset_is_between_50_and_100m_parameters():
    model = _preset_model("small", 16000)
    n = sum(p.numel() for p in model.parameters())
    assert 50e6 <= n <= 100e6, n


@pytest.mark.parametrize("preset", ["tiny", "small"])
def test_presets_have_the_structure_of_glm4_9b_chat_hf(preset):
    # The shipped reference config.json is the source of truth: what is structural there must hold in the preset.
    from transformers import AutoConfig

    ref = AutoConfig.from_pretrained(REPO / "configs/model/glm-4-9b-chat-hf")
    model = _preset_model(preset, 1000)
    cfg = model.config
    assert type(model).__name__ == "GlmForCausalLM" == ref.architectures[0]
    for key in ("attention_bias", "rms_norm_eps", "hidden_act", "tie_word_embeddings"):
        assert getattr(cfg, key) == getattr(ref, key), key
    assert cfg.rope_parameters["partial_rotary_factor"] == ref.rope_parameters["partial_rotary_factor"] == 0.5
    assert cfg.num_attention_heads // cfg.num_key_value_heads == ref.num_attention_heads // ref.num_key_value_heads
    assert cfg.num_attention_heads * cfg.head_dim == cfg.hidden_size
    assert cfg.intermediate_size / cfg.hidden_size == ref.intermediate_size / ref.hidden_size == 3.34375
    attn = model.model.layers[0].self_attn
    assert [attn.q_proj.bias is not None, attn.k_proj.bias is not None, attn.v_proj.bias is not None,
            attn.o_proj.bias is not None] == [True, True, True, False]
    assert not hasattr(model.model.layers[0], "post_self_attn_layernorm")  # no GLM-4-0414 sandwich norms


def test_glm4_0414_preset_is_the_later_family():
    model = _preset_model("glm4-0414", 1000)
    assert type(model).__name__ == "Glm4ForCausalLM"
    assert hasattr(model.model.layers[0], "post_self_attn_layernorm")
