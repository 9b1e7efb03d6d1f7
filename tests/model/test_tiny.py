"""The tiny GLM-4 model folder: offline loading, chat template, exact Chinese round trip, presets."""

import json
import subprocess
import sys

import pytest

from mentalglm.model.chat_format import GLM4_SPECIAL_TOKENS, render_prompt, stop_token_ids
from mentalglm.model.tiny import PRESETS


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
    assert result.stdout.strip().splitlines()[-1] == "Glm4ForCausalLM True"


def test_model_is_glm4_with_a_few_million_parameters(tiny_model_dir):
    from transformers import AutoModelForCausalLM

    config = json.loads((tiny_model_dir / "config.json").read_text())
    assert config["model_type"] == "glm4" and config["architectures"] == ["Glm4ForCausalLM"]
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


def test_small_preset_is_between_50_and_100m_parameters():
    import torch
    from transformers import Glm4Config, Glm4ForCausalLM

    with torch.device("meta"):
        model = Glm4ForCausalLM(Glm4Config(vocab_size=16000, pad_token_id=0, **PRESETS["small"]))
    n = sum(p.numel() for p in model.parameters())
    assert 50e6 <= n <= 100e6, n
