"""Autoscaling shown live (its own Ray cluster: 3 logical CPUs, so two 1-CPU replicas and the proxy fit): the
service grows from 1 to 2 replicas under concurrent load and returns to 1 after it; every request during both is
answered 200 or 503 (the queue limit), never another error and never a dropped connection."""

import sys

import pytest

from paths import REPO

sys.path.insert(0, str(REPO / "benchmarks"))

from serve_autoscale import autoscaling_overrides, running_replicas, scale_up_and_down  # noqa: E402


@pytest.fixture(scope="module")
def autoscaled_service(tiny_model_dir, tiny_adapter_dir, sample_data_dir):
    import ray
    from ray import serve

    from mentalglm.config import load_config
    from mentalglm.config.serve import ServeConfig
    from mentalglm.serve.service import start_service
    from mentalglm.serve.smoke import free_port

    ray.init(num_cpus=3, include_dashboard=False, log_to_driver=False)
    try:
        cfg = load_config(ServeConfig, REPO / "configs/serve/local.yaml", [
            f"model.name_or_path={tiny_model_dir}", f"data.dir={sample_data_dir}", *autoscaling_overrides(free_port())])
        yield start_service(cfg, tiny_adapter_dir), cfg
    finally:
        serve.shutdown()
        ray.shutdown()


def test_the_service_scales_up_under_load_and_back_down_after(autoscaled_service):
    url, cfg = autoscaled_service
    assert running_replicas(cfg.serve.app_name) == 1
    result = scale_up_and_down(url, None, cfg.serve.app_name, clients=6, timeout_s=180)
    print(f"scale up {result['scale_up_s']:.1f} s, down {result['scale_down_s']:.1f} s; "
          f"statuses up {result['statuses_up']}, down {result['statuses_down']}")
    for phase in ("statuses_up", "statuses_down"):
        assert set(result[phase]) <= {200, 503}, result
    assert result["statuses_up"].get(200, 0) > 0 and result["statuses_down"].get(200, 0) > 0
    assert running_replicas(cfg.serve.app_name) == 1
