"""Distributed LoRA fine-tuning: Ray Train (V2) workers each running a DeepSpeed engine.

`train(cfg)` runs a config (its stages in order); `run_training` one Ray Train run with extra callbacks (Tune's);
`stage_config` a stage's own config; `with_lora_targets` the LoRA targets as the model's layer names; `preflight`
every check made before a worker starts. The worker side is one
file, `recipe` (`train_loop_per_worker`, `LoraRecipe`).
"""

from mentalglm.train.driver import run_training
from mentalglm.train.export import TrainResult
from mentalglm.train.checks import preflight, resolve_paths, with_lora_targets
from mentalglm.train.stages import stage_config, train

__all__ = ["TrainResult", "preflight", "resolve_paths", "run_training", "stage_config", "train", "with_lora_targets"]

# The modules other packages may import; the rest are this package's own (tests/test_layering.py).
PUBLIC_MODULES = ('checkpointing', 'progress', 'recipe')
