"""Reaching Ray from a driver: connect to a cluster or start a local one, and check a request fits."""

from __future__ import annotations

import os
from typing import Any

from mentalglm.config import ConfigError


def ensure_ray(address: str | None = None, num_cpus: int | None = None, num_gpus: int | None = None) -> None:
    """Connect to Ray unless already connected: `address`, else RAY_ADDRESS, else a local cluster.

    A local cluster gets explicit CPUs (`num_cpus`, default all of this machine) and stops with this process.
    """
    import ray

    if ray.is_initialized():
        return
    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, log_to_driver=True)
    else:
        ray.init(num_cpus=num_cpus or os.cpu_count(), num_gpus=num_gpus, include_dashboard=True,
                 log_to_driver=True)


def copies_that_fit(num_workers: int, cpus_per_worker: int, use_gpu: bool) -> tuple[int, float, float]:
    """How many groups of `num_workers` workers (CPUs, and one GPU each with `use_gpu`) the cluster holds now.

    Returns:
        (number of groups, cluster CPUs, cluster GPUs).
    """
    import ray

    resources: dict[str, Any] = ray.cluster_resources()
    cpus, gpus = resources.get("CPU", 0), resources.get("GPU", 0)
    fits = int(cpus // (num_workers * cpus_per_worker))
    if use_gpu:
        fits = min(fits, int(gpus // num_workers))
    return fits, cpus, gpus


def check_fits(num_workers: int, cpus_per_worker: int, use_gpu: bool, key: str = "scaling.num_workers") -> None:
    """Fail fast when `num_workers` workers cannot be placed on the cluster as it is now.

    Raises:
        ConfigError: naming `key`, with what was asked and what the cluster has.
    """
    fits, cpus, gpus = copies_that_fit(num_workers, cpus_per_worker, use_gpu)
    if fits >= 1:
        return
    need_cpus = num_workers * cpus_per_worker
    if need_cpus > cpus:
        raise ConfigError(f"{key}: {num_workers} workers x {cpus_per_worker} CPU need {need_cpus} CPUs, "
                          f"the Ray cluster has {cpus:g}")
    raise ConfigError(f"{key}: {num_workers} workers need {num_workers} GPUs (scaling.use_gpu), "
                      f"the Ray cluster has {gpus:g}")
