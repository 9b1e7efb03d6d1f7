"""Whether a request fits the cluster, decided in one place for train, tune, evaluate and serve.

A request is `bundles` bundles of (CPUs, GPUs, GPU type): a run's workers, a sweep's trials, evaluation actors,
serving replicas. With `ray.cluster` set, it is checked against the node types of that cluster launcher file: the
most the autoscaler may ever run, so a job is neither refused for nodes that are not up yet nor left waiting for
nodes that can never come. Without it, against the live cluster (`ray.cluster_resources()`).
"""

from __future__ import annotations

from typing import Any

from mentalglm.config import ConfigError
from mentalglm.config.schema import RaySection


def check_capacity(ray_cfg: RaySection, bundles: int, cpus: float, gpus: float, accelerator: str | None = None,
                   key: str = "scaling.num_workers", unit: str = "workers") -> int:
    """Check that `bundles` bundles of (`cpus`, `gpus` each) fit; return how many such bundles fit at most.

    The live cluster is only read (and connected to, per `ray_cfg`) when `ray_cfg.cluster` is unset, so with a
    cluster file the check runs before anything connects or starts.

    Raises:
        ConfigError: naming `key`, with what was asked and what the cluster (file or live) offers.
    """
    if ray_cfg.cluster is not None:
        from mentalglm.cluster.shape import check_request, load_cluster_shape

        return check_request(load_cluster_shape(ray_cfg.cluster), bundles, cpus, gpus, accelerator, key=key)
    import ray

    from mentalglm.cluster.connect import ensure_ray

    ensure_ray(ray_cfg)
    resources: dict[str, Any] = ray.cluster_resources()
    have_cpus, have_gpus = resources.get("CPU", 0), resources.get("GPU", 0)
    capacity = int(have_cpus // cpus) if cpus else 10**9
    if gpus:
        capacity = min(capacity, int(have_gpus // gpus))
    if bundles <= capacity:
        return capacity
    if bundles * cpus > have_cpus:
        raise ConfigError(f"{key}: {bundles} {unit} x {cpus:g} CPU need {bundles * cpus:g} CPUs, the Ray cluster "
                          f"has {have_cpus:g}")
    raise ConfigError(f"{key}: {bundles} {unit} x {gpus:g} GPU need {bundles * gpus:g} GPUs, the Ray cluster has "
                      f"{have_gpus:g}")


def runs_at_once(ray_cfg: RaySection, scaling: Any, key: str = "scaling.num_workers") -> int:
    """How many runs of `scaling.num_workers` workers the cluster holds at once (at least one, or ConfigError)."""
    gpus = 1 if scaling.use_gpu else 0
    workers = check_capacity(ray_cfg, scaling.num_workers, scaling.cpus_per_worker, gpus,
                             scaling.accelerator_type if scaling.use_gpu else None, key=key)
    return workers // scaling.num_workers
