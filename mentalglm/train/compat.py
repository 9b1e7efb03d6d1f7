"""Workarounds for DeepSpeed and transformers behaviour, each guarded by the version range it was checked on.

Outside its range a workaround is not applied and a warning says what to expect, so an upgrade degrades to a
slower or more memory-hungry run, never to a wrong one. Widen a range only after checking the workaround on the
new version (see each function).
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

DEEPSPEED_CHECKED = ((0, 16), (0, 20))  # [low, high): 0.16 up to 0.19.x (seen: 0.19.8)
TRANSFORMERS_CHECKED = ((4, 56), (6, 0))  # seen: 5.24
_ZERO3_LOAD_CONFIG: Any = None  # kept alive for the worker's life: transformers only holds a weak reference


def _version(package: str) -> tuple[int, int]:
    from importlib.metadata import version

    major, minor = version(package).split(".")[:2]
    return int(major), int("".join(ch for ch in minor if ch.isdigit()) or 0)


def _checked(package: str, bounds: tuple[tuple[int, int], tuple[int, int]], what: str) -> bool:
    have = _version(package)
    if bounds[0] <= have < bounds[1]:
        return True
    log.warning("%s %d.%d is outside the range %s was checked on (%d.%d to before %d.%d); not applied",
                package, *have, what, *bounds[0], *bounds[1])
    return False


def disable_deepspeed_cpu_shm_comm() -> bool:
    """Mark DeepSpeed's CPU shared-memory all-reduce op unavailable, so it is not JIT-compiled (~70 s) the first
    time DeepSpeed wraps a CPU process group; it only serves inference all-reduce, never training.

    Writes the private `deepspeed.ops.__compatible_ops__`. Returns whether it was applied.
    """
    if not _checked("deepspeed", DEEPSPEED_CHECKED, "the CPU shm-comm workaround"):
        return False
    import deepspeed.ops

    deepspeed.ops.__compatible_ops__["deepspeed_shm_comm"] = False
    return True


def load_partitioned_under_zero3(ds_config: dict[str, Any]) -> bool:
    """Make the next `from_pretrained` build the model inside `deepspeed.zero.Init`, so each rank holds only its
    partition of the frozen base weights (GLM-4-9B: ~18 GB / world size in bf16, not the whole model per rank).

    transformers keeps only a weak reference to the `HfDeepSpeedConfig` that turns this on, so the object is kept
    alive here for the worker's life. Returns whether it was applied (outside the checked range every rank loads
    the whole model, then ZeRO-3 partitions it: more memory, same weights).
    """
    global _ZERO3_LOAD_CONFIG
    if not _checked("transformers", TRANSFORMERS_CHECKED, "partitioned ZeRO-3 loading"):
        return False
    from transformers.integrations import HfDeepSpeedConfig

    _ZERO3_LOAD_CONFIG = HfDeepSpeedConfig(ds_config)
    return True


def enable_activation_checkpointing(model: Any, reentrant: bool) -> None:
    """Turn on activation checkpointing of every decoder layer, reentrant or not: transformers 5's
    `activation_checkpointing_enable`, or `gradient_checkpointing_enable` where that is all there is (it is
    deprecated in 5.x and goes in 6)."""
    enable = getattr(model, "activation_checkpointing_enable", None)
    if enable is not None:
        enable(activation_checkpointing_kwargs={"use_reentrant": reentrant})
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": reentrant})
