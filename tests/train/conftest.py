"""Fixtures for Ray Train tests: one local Ray cluster (2 CPUs) per module, and configs on the tiny model."""

import pytest

from paths import REPO


@pytest.fixture(scope="module")
def ray_cluster():
    """A local Ray cluster with 2 CPUs, started by this module and stopped after it."""
    import ray

    ray.init(num_cpus=2, include_dashboard=True, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def make_train_config(tiny_model_dir, sample_data_dir):
    """Build a TrainConfig from configs/train/local-tiny.yaml on the tiny model and sample data."""
    from mentalglm.config import load_config
    from mentalglm.config.train import TrainConfig

    def make(storage, *overrides):
        return load_config(TrainConfig, REPO / "configs/train/local-tiny.yaml", [
            f"model.name_or_path={tiny_model_dir}", f"data.dir={sample_data_dir}", f"run.storage_path={storage}",
            f"deepspeed.config={REPO / 'configs/deepspeed/zero2.json'}", "train.epochs=2", "train.checkpoint_every=4",
            *overrides])

    return make
