"""LoRA on the base model: attaching (or resuming) an adapter, and a size check. Where LoRA can go:
`mentalglm.model.lora_targets`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mentalglm.config.train import LoraSection
from mentalglm.model.lora_targets import linear_module_names


def expected_trainable_parameters(model: Any, lora: LoraSection) -> int:
    """Parameters LoRA adds: r * (in + out) for every targeted Linear layer."""
    names = linear_module_names(model)
    return sum(lora.r * (i + o) for t in lora.target_modules for i, o in names.get(t, []))


def count_trainable_parameters(model: Any) -> int:
    """Trainable parameters of `model`, counting ZeRO-3-partitioned ones at full size."""
    return sum(getattr(p, "ds_numel", p.numel()) for p in model.parameters() if p.requires_grad)


def adapter_settings(path: str | Path) -> dict[str, Any]:
    """r, alpha, dropout and target modules of a saved PEFT adapter folder."""
    cfg = json.loads((Path(path) / "adapter_config.json").read_text(encoding="utf-8"))
    return {"r": cfg["r"], "alpha": cfg["lora_alpha"], "dropout": cfg["lora_dropout"],
            "target_modules": sorted(cfg["target_modules"])}


def attach_lora(model: Any, lora: LoraSection, init_adapter: str | Path | None = None) -> Any:
    """Wrap `model` in a trainable PEFT LoRA model: a fresh adapter, or `init_adapter` loaded to train further.

    Raises:
        ValueError: the trainable parameter count differs from what `lora` implies.
    """
    from peft import LoraConfig, PeftModel, get_peft_model

    expected = expected_trainable_parameters(model, lora)
    if init_adapter:
        peft_model = PeftModel.from_pretrained(model, str(init_adapter), is_trainable=True)
    else:
        peft_model = get_peft_model(model, LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                                                      target_modules=list(lora.target_modules), bias="none",
                                                      task_type="CAUSAL_LM"))
    actual = count_trainable_parameters(peft_model)
    if actual != expected:
        raise ValueError(f"LoRA has {actual} trainable parameters, but lora.r={lora.r} on "
                         f"{lora.target_modules} implies {expected}")
    return peft_model
