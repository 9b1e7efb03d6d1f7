"""The cluster's shape from cluster.yaml, and requests checked against it before anything starts."""

import pytest

from paths import REPO
from mentalglm.cluster.shape import check_request, load_cluster_shape
from mentalglm.config import ConfigError, load_config
from mentalglm.config.serve import ServeConfig
from mentalglm.config.train import TrainConfig
from mentalglm.cluster.capacity import runs_at_once

SHAPE = load_cluster_shape(REPO / "cluster.yaml")


def test_shape_is_read_from_cluster_yaml():
    nodes = {n.name: n for n in SHAPE.nodes}
    assert (nodes["head"].gpus, nodes["head"].max_nodes) == (0, 1)
    worker = nodes["gpu_worker"]
    assert (worker.cpus, worker.gpus, worker.accelerator, worker.max_nodes) == (90, 8, "A100", 4)
    assert worker.instance_type == "p4d.24xlarge"  # the planner reads the GPU model from it


@pytest.mark.parametrize("bundles, cpus, gpus, accelerator, capacity", [
    (8, 8, 1, "A100", 32),      # one GLM-4-9B run: 8 workers; 4 nodes hold 32 such workers
    (1, 4, 1, None, 32),
    (2, 1, 0, None, 6 + 4 * 90),  # CPU-only bundles fit the head and the workers
])
def test_requests_that_fit(bundles, cpus, gpus, accelerator, capacity):
    assert check_request(SHAPE, bundles, cpus, gpus, accelerator) == capacity


@pytest.mark.parametrize("bundles, cpus, gpus, accelerator, words", [
    (33, 8, 1, "A100", "need more than the 32"),
    (1, 8, 1, "H100", "no node type"),
    (1, 128, 1, None, "no node type"),
    (1, 8, 9, None, "no node type"),
])
def test_requests_that_cannot_fit_name_the_key_and_the_file(bundles, cpus, gpus, accelerator, words):
    with pytest.raises(ConfigError, match=words) as err:
        check_request(SHAPE, bundles, cpus, gpus, accelerator, key="scaling.num_workers")
    assert str(err.value).startswith("scaling.num_workers: ") and "cluster.yaml" in str(err.value)


def test_train_serve_and_tune_configs_are_checked_against_the_shape(tmp_path):
    train = load_config(TrainConfig, REPO / "configs/train/glm4-9b-lora.yaml")
    assert runs_at_once(train.ray, train.scaling) == 4  # four 8-GPU runs at once: a sweep's concurrency
    too_big = load_config(TrainConfig, REPO / "configs/train/glm4-9b-lora.yaml",
                          ["scaling.num_workers=40", "scaling.accelerator_type=A100"])
    with pytest.raises(ConfigError, match="scaling.num_workers: 40 x"):
        runs_at_once(too_big.ray, too_big.scaling)
    from mentalglm.serve.service import start_service

    token = tmp_path / "api-token"  # the token and adapter checks come first; then the shape, still before Ray
    token.write_text("tok")
    serve = load_config(ServeConfig, REPO / "configs/serve/cluster.yaml",
                        ["serve.gpus_per_replica=16", f"serve.token_file={token}"])
    with pytest.raises(ConfigError, match="serve.autoscaling.max_replicas: no node type"):
        start_service(serve)  # fails before connecting to any Ray
    missing = load_config(TrainConfig, REPO / "configs/train/glm4-9b-lora.yaml", [f"ray.cluster={tmp_path}/none.yaml"])
    with pytest.raises(ConfigError, match="ray.cluster: cannot read"):
        runs_at_once(missing.ray, missing.scaling)


def test_evaluate_actors_are_checked_against_the_cluster_file():
    import ray

    from mentalglm.config.evaluate import EvaluateConfig
    from mentalglm.evaluate.run import local_generator

    ray.shutdown()  # an earlier module may have left this process connected

    cfg = load_config(EvaluateConfig, REPO / "configs/evaluate/tiny.yaml", [
        f"ray.cluster={REPO / 'cluster.yaml'}", "evaluate.num_workers=40", "evaluate.use_gpu=true",
        "evaluate.cpus_per_worker=8"])
    with pytest.raises(ConfigError, match=r"evaluate\.num_workers: 40 x \(8 CPU, 1 GPU\) need more than the 32"):
        local_generator(cfg, None)
    assert not ray.is_initialized()  # refused before connecting to (or starting) any Ray
