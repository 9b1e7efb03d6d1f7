"""Reaching Ray from a driver: connect to a cluster or start a local one (capacity checks:
`mentalglm.cluster.capacity`).

A local cluster started here is set up for one machine whose CPUs train or serve: its worker processes run at
normal priority (Ray starts them at nice 15 by default, so on a small machine its own daemons take CPU from
training), the dashboard's modules and HTTP server stay off unless `ray.dashboard: true` (Ray 2.60 still starts one
API-server process, which then loads only its usage-stats module), usage statistics are never sent, and worker
output is not copied to the driver's console unless `ray.log_to_driver: true` (a run's progress lines and errors
come from the driver; every worker's log stays in Ray's session folder). Ray Train's preemption watcher (an actor
polling the node's drain state every 5 s) is off: a machine of one's own is not preempted. Without the dashboard,
nothing collects metrics either: every Ray process stops recording them and Ray Train starts no metrics callbacks.
"""

from __future__ import annotations

import os

from mentalglm.cluster.signals import rearm
from mentalglm.config.schema import RaySection

# Environment of a local cluster's processes (they inherit the driver's): RayConfig reads RAY_<name>.
LOCAL_CLUSTER_ENV = {"RAY_worker_niceness": "0", "RAY_USAGE_STATS_ENABLED": "0",
                     "RAY_TRAIN_ENABLE_PREEMPTION_WATCHER": "0"}
# Without the dashboard nothing reads the node statistics the dashboard agent gathers every 5 s (a psutil pass over
# every process): once a minute is enough; and nothing reads the metrics every process records and exports.
NO_DASHBOARD_ENV = {"REPORTER_UPDATE_INTERVAL_MS": "60000", "RAY_enable_metrics_collection": "0",
                    "RAY_TRAIN_METRICS_ENABLED": "0"}


def ensure_ray(ray_cfg: RaySection | None = None) -> None:
    """Connect to Ray unless already connected: `ray.address`, else RAY_ADDRESS, else a local cluster of
    `ray.num_cpus` CPUs (default all of this machine) that stops with this process.
    """
    import ray

    if ray.is_initialized():
        return
    cfg = ray_cfg or RaySection()
    address = cfg.address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, log_to_driver=cfg.log_to_driver)
    else:
        for key, value in {**LOCAL_CLUSTER_ENV, **({} if cfg.dashboard else NO_DASHBOARD_ENV)}.items():
            os.environ.setdefault(key, value)
        ray.init(num_cpus=cfg.num_cpus or os.cpu_count(), num_gpus=cfg.num_gpus, include_dashboard=cfg.dashboard,
                 log_to_driver=cfg.log_to_driver)
    rearm()  # ray.init installed its own SIGTERM handlers: the CLI's Ctrl-C path again
