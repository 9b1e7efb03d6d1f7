"""The search space: YAML domains -> Ray Tune domains, checked against the train config before any trial."""

from __future__ import annotations

import copy
from typing import Any

from pydantic import ValidationError

from mentalglm.config import ConfigError, set_key
from mentalglm.config.train import TrainConfig
from mentalglm.config.tune import TuneConfig


def tune_domains(space: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Ray Tune domains for the YAML search space (flat dotted keys)."""
    from ray import tune

    makers = {"choice": tune.choice, "grid": tune.grid_search, "uniform": lambda v: tune.uniform(*v),
              "loguniform": lambda v: tune.loguniform(*v), "randint": lambda v: tune.randint(*v)}
    return {key: makers[kind](values) for key, (kind, values) in ((k, next(iter(d.items()))) for k, d in space.items())}


def trial_config(base: dict[str, Any], params: dict[str, Any]) -> TrainConfig:
    """The TrainConfig of one trial: `base` (a TrainConfig dump) with the sampled `params` set.

    Raises:
        ConfigError: a sampled key or value the train config rejects (names the key).
    """
    data = copy.deepcopy(base)
    for key, value in params.items():
        set_key(data, key, value)
    try:
        return TrainConfig.model_validate(data)
    except ValidationError as exc:
        details = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"tune.search_space: {details}") from None


def check_search_space(cfg: TuneConfig) -> None:
    """Fail fast when a search-space key is not a train config key, or a value it can take is invalid.

    Every listed value of choice/grid domains and both bounds of ranges are tried.

    Raises:
        ConfigError: naming `tune.search_space.<key>`.
    """
    base = cfg.model_dump(mode="json", exclude={"tune"})
    for key, domain in cfg.tune.search_space.items():
        kind, values = next(iter(domain.items()))
        for value in values:
            if kind == "randint":
                value = int(value)
            try:
                trial_config(base, {key: value})
            except ConfigError as exc:
                raise ConfigError(f"tune.search_space.{key}: value {value!r} rejected ({exc})") from None
