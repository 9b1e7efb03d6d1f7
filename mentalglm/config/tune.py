"""Config of `mentalglm tune`: a Ray Tune sweep whose trials are full `mentalglm train` runs."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from mentalglm.config.schema import Strict
from mentalglm.config.train import TrainConfig

DOMAINS = ("choice", "grid", "uniform", "loguniform", "randint")


class AshaSection(Strict):
    """ASHA early stopping; time is counted in reports (`train.checkpoint_every` steps each)."""

    grace_period: int = Field(1, ge=1)
    reduction_factor: float = Field(2, gt=1)
    max_t: int = Field(100, ge=1, description="ASHA's horizon in reports; keep it above a full run's report count, "
                       "or ASHA stops finished trials at their last report before their adapter is exported")


class TuneSection(Strict):
    """The sweep: search space over dotted config keys, sample count, searcher, scheduler, metric."""

    search_space: dict[str, dict[str, Any]] = Field(
        min_length=1, description="key -> {choice: [..]} | {grid: [..]} | {uniform: [lo, hi]} | "
                                  "{loguniform: [lo, hi]} | {randint: [lo, hi]}")
    num_samples: int = Field(4, ge=1, description="samples (times every grid combination)")
    searcher: Literal["random", "optuna"] = "random"
    metric: str = Field("auto", description="auto: val_f1 when train.generate_eval is on, else val_loss")
    mode: Literal["auto", "min", "max"] = "auto"
    asha: AshaSection = AshaSection()
    max_concurrent_trials: int | None = Field(None, ge=1, description="default: as many trials as the cluster fits")
    seed: int = 0

    @field_validator("search_space")
    @classmethod
    def _domains(cls, space: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        for key, domain in space.items():
            if len(domain) != 1 or next(iter(domain)) not in DOMAINS:
                raise ValueError(f"{key}: give exactly one of {list(DOMAINS)}, got {list(domain)}")
            kind, values = next(iter(domain.items()))
            if not isinstance(values, list) or not values:
                raise ValueError(f"{key}: {kind} needs a non-empty list")
            if kind in ("uniform", "loguniform", "randint") and (len(values) != 2 or not values[0] < values[1]):
                raise ValueError(f"{key}: {kind} needs [low, high] with low < high, got {values}")
            if kind == "loguniform" and values[0] <= 0:
                raise ValueError(f"{key}: loguniform bounds must be > 0")
        return space


class TuneConfig(TrainConfig):
    """`mentalglm tune CONFIG`: a train config (the base of every trial) plus `tune:`."""

    tune: TuneSection

    def train_config(self) -> TrainConfig:
        """The sweep's base train config: this config without `tune` (already validated, so not validated again)."""
        return TrainConfig.model_construct(**{name: getattr(self, name) for name in TrainConfig.model_fields})

    def resolved_metric(self) -> tuple[str, str]:
        """(metric, mode) with `auto` filled in."""
        metric = self.tune.metric
        if metric == "auto":
            metric = "val_f1" if self.train.generate_eval.enabled else "val_loss"
        mode = self.tune.mode
        if mode == "auto":
            mode = "max" if "f1" in metric or "accuracy" in metric else "min"
        return metric, mode


class TrainOrTuneConfig:
    """The schema of `mentalglm plan`: a tune config when the YAML has a `tune:` section, else a train config."""

    schemas = (TrainConfig, TuneConfig)

    @classmethod
    def model_validate(cls, data: Any, context: Any = None) -> TrainConfig:
        schema = TuneConfig if isinstance(data, dict) and "tune" in data else TrainConfig
        return schema.model_validate(data, context=context)
