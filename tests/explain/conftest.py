"""Fixtures of the `data explain` tests: a Ray cluster of 2 CPUs; the scripted teacher importable."""

import sys

import pytest

from paths import REPO

sys.path.insert(0, str(REPO / "benchmarks"))  # scripted_teacher: the scripted OpenAI-compatible server


@pytest.fixture(scope="module")
def ray_two_cpus():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()
