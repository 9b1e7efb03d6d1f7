"""Distributed LoRA fine-tuning: Ray Train (V2) workers each running a DeepSpeed engine.

Public entry point: `train(cfg)`; the per-worker loop is `loop.train_loop_per_worker`.
"""

from mentalglm.train.trainer import TrainResult, train

__all__ = ["TrainResult", "train"]
