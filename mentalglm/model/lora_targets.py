"""Where LoRA can go in a model: the leaf names of its Linear layers, `all-linear` resolved to them, and the check that
every target is one."""

from __future__ import annotations

from typing import Any

from mentalglm.errors import ConfigError


def linear_module_names(model: Any) -> dict[str, list[tuple[int, int]]]:
    """Leaf names of the model's Linear layers (`q_proj`) -> the (in, out) features of each such layer.

    The LM head is left out: LoRA on the output embedding is not what target_modules means here.
    """
    import torch

    found: dict[str, list[tuple[int, int]]] = {}
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) and not name.endswith("lm_head"):
            found.setdefault(name.rsplit(".", 1)[-1], []).append((module.in_features, module.out_features))
    return found


def check_target_modules(model: Any, target_modules: list[str]) -> None:
    """Fail unless every LoRA target is the leaf name of a Linear layer of `model` (a meta-device skeleton will do).

    Raises:
        ConfigError: naming lora.target_modules, the unknown names and the model's Linear layers.
    """
    layers = linear_module_names(model)
    unknown = [t for t in target_modules if t not in layers]
    if unknown:
        raise ConfigError(f"lora.target_modules: {unknown} not in {type(model).__name__}; its Linear layers "
                          f"are {sorted(layers)}")


def resolve_target_modules(model: Any, target_modules: list[str] | str) -> list[str]:
    """The LoRA targets as leaf names of `model`'s Linear layers: `all-linear` becomes every one (the LM head aside),
    in the model's order; a list is checked (`check_target_modules`) and returned as it is.

    Raises:
        ConfigError: an unknown name, or a model with no Linear layer.
    """
    if target_modules == "all-linear":
        names = list(linear_module_names(model))
        if not names:
            raise ConfigError(f"lora.target_modules: all-linear, but {type(model).__name__} has no Linear layer "
                              "besides its LM head")
        return names
    check_target_modules(model, list(target_modules))
    return list(target_modules)
