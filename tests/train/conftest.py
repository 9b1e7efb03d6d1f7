"""Fixtures for Ray Train tests: configs on the tiny model and sample data."""

import pytest

from paths import REPO


@pytest.fixture(scope="module")
def make_train_config(tiny_model_dir, sample_data_dir):
    """Build a TrainConfig from configs/train/tiny-lora.yaml on the tiny model and sample data."""
    from mentalglm.config import load_config
    from mentalglm.config.train import TrainConfig

    def make(storage, *overrides):
        return load_config(TrainConfig, REPO / "configs/train/tiny-lora.yaml", [
            f"model.name_or_path={tiny_model_dir}", f"data.dir={sample_data_dir}", f"run.storage_path={storage}",
            f"deepspeed.config={REPO / 'configs/deepspeed/zero2.json'}", "train.epochs=2", "train.checkpoint_every=4",
            *overrides])

    return make
