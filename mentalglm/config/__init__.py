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

# The modules other packages may import; the rest are this package's own (tests/test_layering.py).
PUBLIC_MODULES = ('deepspeed', 'evaluate', 'explain', 'judge', 'loading', 'rating', 'schema', 'serve', 'train', 'tune')
