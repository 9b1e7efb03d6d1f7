"""The model's shape for planning: built on the meta device (no memory, no weights), with the config's LoRA.

The architecture comes from `model.name_or_path`: a local folder, the local Hugging Face cache, or, for a hub id
the project ships the reference config of (`configs/model/glm-4-9b-chat-hf/config.json`), that file, so the
9B shape is planned without a download.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mentalglm.config import ConfigError
from mentalglm.config.schema import ModelConfig
from mentalglm.config.train import LoraSection
from mentalglm.model.lora_targets import resolve_target_modules

# hub id -> the folder under configs/model/ holding its config.json
REFERENCE_CONFIGS = {"THUDM/glm-4-9b-chat-hf": "glm-4-9b-chat-hf", "zai-org/glm-4-9b-chat-hf": "glm-4-9b-chat-hf"}


def reference_config_dir(name: str) -> Path | None:
    """The shipped config folder of hub id `name` (looked up in ./configs/model, then beside the package), or
    None when the project ships none for it."""
    folder = REFERENCE_CONFIGS.get(name)
    if folder is None:
        return None
    for root in (Path.cwd(), Path(__file__).resolve().parents[2]):
        candidate = root / "configs" / "model" / folder
        if (candidate / "config.json").is_file():
            return candidate
    return None


def load_model_config(model: ModelConfig) -> tuple[Any, str]:
    """(transformers config, where it was read) for `model.name_or_path`.

    Raises:
        ConfigError: naming model.name_or_path when neither a local folder, the local cache nor a shipped
            reference config has it.
    """
    from transformers import AutoConfig

    name, remote = model.name_or_path, model.trust_remote_code
    try:  # a local folder or the local cache first: no network wait for what is already here
        return AutoConfig.from_pretrained(name, trust_remote_code=remote, local_files_only=True), name
    except (OSError, ValueError):
        pass
    reference = reference_config_dir(name)
    if reference is not None:
        return AutoConfig.from_pretrained(reference), f"{reference}/config.json (shipped reference shape)"
    try:
        return AutoConfig.from_pretrained(name, trust_remote_code=remote), name
    except (OSError, ValueError) as exc:
        raise ConfigError(f"model.name_or_path: cannot read the config of {name} ({exc}); give a local model "
                          "folder") from None


@dataclass(frozen=True)
class ModelShape:
    """Parameter counts and sizes of the model with its LoRA adapter."""

    architecture: str
    source: str
    total_params: int           # base model, every parameter
    embedding_params: int       # input embedding (a lookup: no FLOPs)
    matmul_params: int          # base Linear weights, LM head included: 2 FLOPs per token each in forward
    head_params: int            # the LM head's weight (not recomputed under activation checkpointing)
    lora_params: int            # trainable, as PEFT counts them
    largest_module_params: int  # the biggest single module ZeRO-3 gathers at once (often the LM head)
    small_params: int           # parameters of tensors under ZeRO-3's persistence threshold (kept whole)
    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int
    lora_inputs_per_layer: int  # summed input width of one layer's LoRA-targeted modules (for dropout)
    lora_rank_outputs_per_layer: int  # summed r of one layer's LoRA A outputs
    lora_targets: tuple[str, ...] = ()  # the Linear layers LoRA goes on (`all-linear` resolved)


def _attach_lora(skeleton: Any, lora: LoraSection) -> Any:
    import warnings

    from peft import LoraConfig, get_peft_model

    with warnings.catch_warnings():  # PEFT asks transformers a deprecated question; nothing for the user
        warnings.simplefilter("ignore", FutureWarning)
        return get_peft_model(skeleton, LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                                                   target_modules=list(lora.target_modules), bias="none",
                                                   task_type="CAUSAL_LM"))


# Shapes already counted in this process, by what they depend on: a sweep's trials mostly share one (a 9B build
# takes seconds).
_SHAPES: dict[tuple, ModelShape] = {}


def model_shape(model: ModelConfig, lora: LoraSection, persistence_threshold: int = 100_000) -> ModelShape:
    """Build `model` on the meta device, attach `lora`, and count (once per architecture, LoRA rank and targets,
    and threshold in a process).

    Raises:
        ConfigError: the model config cannot be read, or a LoRA target module is not in the model.
    """
    config, source = load_model_config(model)
    key = (config.to_json_string(), source, model.trust_remote_code, lora.r, str(lora.target_modules),
           persistence_threshold)
    if key not in _SHAPES:
        _SHAPES[key] = _count_shape(config, source, model.trust_remote_code, lora, persistence_threshold)
    return _SHAPES[key]


def _count_shape(config: Any, source: str, trust_remote_code: bool, lora: LoraSection,
                 persistence_threshold: int) -> ModelShape:
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        skeleton = AutoModelForCausalLM.from_config(config, trust_remote_code=trust_remote_code)
    total = sum(p.numel() for p in skeleton.parameters())
    embedding = skeleton.get_input_embeddings().weight.numel()
    matmul = sum(m.weight.numel() for m in skeleton.modules() if isinstance(m, torch.nn.Linear))
    head = skeleton.get_output_embeddings().weight.numel()
    largest = max(sum(p.numel() for p in m.parameters(recurse=False)) for m in skeleton.modules())
    small = sum(p.numel() for p in skeleton.parameters() if p.numel() < persistence_threshold)
    lora = lora.model_copy(update={"target_modules": resolve_target_modules(skeleton, lora.target_modules)})
    try:
        peft_model = _attach_lora(skeleton, lora)
    except ValueError as exc:
        raise ConfigError(f"lora.target_modules: {exc}") from None
    trainable, _ = peft_model.get_nb_trainable_parameters()
    first_layer = peft_model.base_model.model.model.layers[0]
    inputs = ranks = 0
    for _, module in first_layer.named_modules():
        if hasattr(module, "lora_A") and "default" in getattr(module, "lora_A", {}):
            inputs += module.in_features
            ranks += module.lora_A["default"].out_features
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    return ModelShape(
        architecture=type(skeleton).__name__, source=source, total_params=total, embedding_params=embedding,
        matmul_params=matmul, head_params=head, lora_params=trainable, largest_module_params=largest,
        small_params=small, hidden=config.hidden_size, intermediate=config.intermediate_size,
        layers=config.num_hidden_layers, heads=config.num_attention_heads,
        kv_heads=getattr(config, "num_key_value_heads", None) or config.num_attention_heads, head_dim=head_dim,
        vocab=config.vocab_size, lora_inputs_per_layer=inputs, lora_rank_outputs_per_layer=ranks,
        lora_targets=tuple(lora.target_modules))
