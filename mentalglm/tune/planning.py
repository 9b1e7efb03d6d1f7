"""The plans `mentalglm plan` prints: one per stage of a train config, or the heaviest trial of a tune config."""

from __future__ import annotations

from typing import Any

from mentalglm.config.deepspeed import read_deepspeed_config
from mentalglm.config.train import TrainConfig
from mentalglm.plan import Plan, make_plan
from mentalglm.train import stage_config
from mentalglm.tune.space import trial_config


def _stage_plans(cfg: TrainConfig, with_data: bool) -> list[Plan]:
    if not cfg.stages:
        return [make_plan(cfg, read_deepspeed_config(cfg), with_data=with_data)]
    plans = []
    for index, stage in enumerate(cfg.stages):
        stage_cfg = stage_config(cfg, index)
        plans.append(make_plan(stage_cfg, read_deepspeed_config(stage_cfg), f"{cfg.run.name} / stage {stage.name}",
                               with_data=with_data))
    return plans


def heaviest_trial(cfg: Any) -> tuple[TrainConfig, dict[str, Any]]:
    """The trial of a tune config with the most planned memory per GPU: each searched key set, one at a time,
    to its heaviest value (choice and grid values, range bounds), then all of them together; keys whose values
    all give the same memory keep the base config's value.

    Returns:
        (its TrainConfig, the chosen {key: value}).
    """
    base = cfg.model_dump(mode="json", exclude={"tune"})
    chosen: dict[str, Any] = {}
    for key, domain in cfg.tune.search_space.items():
        kind, values = next(iter(domain.items()))
        weights = []
        for value in values:
            trial = trial_config(base, {key: int(value) if kind == "randint" else value})
            weights.append((make_plan(trial, read_deepspeed_config(trial), with_data=False).memory.total, value))
        if max(weights)[0] > min(weights)[0]:  # keys that change no memory (lr, alpha) keep the base value
            chosen[key] = max(weights, key=lambda wv: wv[0])[1]
    return trial_config(base, chosen), chosen


def plan_config(cfg: Any, with_data: bool = True) -> tuple[list[Plan], str]:
    """The plans of a train config (one per stage) or a tune config (its heaviest trial), and a header line.

    Raises:
        ConfigError: see `make_plan`.
    """
    if hasattr(cfg, "tune"):
        trial, chosen = heaviest_trial(cfg)
        header = "heaviest trial of the sweep: " + (", ".join(f"{k}={v}" for k, v in chosen.items()) or
                                                    "every trial plans the same memory")
        return _stage_plans(trial, with_data), header
    return _stage_plans(cfg, with_data), ""
