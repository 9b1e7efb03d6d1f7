"""Typed configs: the schema (`schema`) and the YAML loader with `key=value` overrides (`loading`)."""

from mentalglm.config.loading import ConfigError, apply_overrides, load_config, set_key, with_values
from mentalglm.config.schema import (
    DataBuildConfig,
    DataFetchConfig,
    ModelConfig,
    ModelInitConfig,
    PipelineConfig,
    RunConfig,
    SourceConfig,
)

__all__ = [
    "ConfigError", "DataBuildConfig", "DataFetchConfig", "ModelConfig", "ModelInitConfig", "PipelineConfig", "RunConfig",
    "SourceConfig", "apply_overrides", "load_config", "set_key", "with_values",
]
