"""Reaching Ray from a driver: connect to a cluster or start a local one (capacity checks: `mentalglm.capacity`)."""

from __future__ import annotations

import os


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
