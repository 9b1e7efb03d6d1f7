"""Whether every bundle a config asks for can be placed on a cluster, decided by Ray's own autoscaler code.

The node types come from `cluster.yaml` (`available_node_types`, as the cluster launcher reads them) or from a
KubeRay RayCluster/RayJob/RayService manifest, turned into node types by Ray's KubeRay autoscaler
(`_derive_autoscaling_config_from_ray_cr`: container limits, `rayStartParams` resources, min/max replicas). A
config's bundles (train workers, each concurrent trial's workers, serve replicas at their autoscaling maximum, with
GPU type as `accelerator_type:X` the way Ray asks for it) are first packed onto the head, then handed to the
autoscaler's scheduler (`get_nodes_for`), which adds nodes up to each type's and the cluster's maximum. What it
cannot place is reported with the bundle and the resource no node type offers (or "more nodes than allowed").

Ray's autoscaler internals are private API; this module is the one place that imports them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mentalglm.cluster.shape import ACCELERATOR_PREFIX as ACCELERATOR, load_cluster_shape



@dataclass(frozen=True)
class NodeTypes:
    """A cluster description in the autoscaler's terms."""

    source: str
    types: dict[str, dict[str, Any]]  # name -> {"resources", "min_workers", "max_workers"}
    head: str
    max_workers: int

    def shape(self) -> dict[str, dict[str, Any]]:
        """name -> (resources without zero entries, min, max): what two descriptions must agree on."""
        return {name: {"resources": {k: v for k, v in t["resources"].items() if v and k != "memory"},
                       "min_workers": int(t.get("min_workers", 0)), "max_workers": int(t.get("max_workers", 0))}
                for name, t in self.types.items()}


def cluster_yaml_node_types(path: str | Path) -> NodeTypes:
    """The node types of a Ray cluster launcher file, as `shape.load_cluster_shape` reads it."""
    shape = load_cluster_shape(path)
    types = {n.name: {"resources": dict(n.resources), "min_workers": n.min_workers, "max_workers": n.max_workers}
             for n in shape.nodes}
    return NodeTypes(Path(path).name, types, shape.head, shape.max_workers)


def kuberay_node_types(manifest: dict, source: str = "manifest") -> NodeTypes:
    """The node types Ray's KubeRay autoscaler derives from a RayCluster, RayJob or RayService manifest."""
    from ray.autoscaler._private.kuberay.autoscaling_config import _derive_autoscaling_config_from_ray_cr

    spec = manifest["spec"]
    cluster_spec = {"RayCluster": spec, "RayJob": spec.get("rayClusterSpec"),
                    "RayService": spec.get("rayClusterConfig")}[manifest["kind"]]
    metadata = {"namespace": "default", **manifest["metadata"]}
    config = _derive_autoscaling_config_from_ray_cr({"metadata": metadata, "spec": cluster_spec})
    types = {name: {"resources": dict(t["resources"]), "min_workers": t.get("min_workers", 0),
                    "max_workers": t.get("max_workers", 0)} for name, t in config["available_node_types"].items()}
    return NodeTypes(source, types, config["head_node_type"], int(config.get("max_workers", 0)))


def config_bundles(cfg: Any) -> list[tuple[str, dict[str, float]]]:
    """(label, bundle) for everything `cfg` (a train, tune, serve or evaluate config) asks Ray for at its largest."""
    from mentalglm.config.evaluate import EvaluateConfig
    from mentalglm.config.serve import ServeConfig
    from mentalglm.config.train import TrainConfig
    from mentalglm.config.tune import TuneConfig

    if isinstance(cfg, ServeConfig):
        s = cfg.serve
        replicas = s.autoscaling.max_replicas if s.autoscaling else s.num_replicas
        bundle = {"CPU": s.cpus_per_replica, "GPU": s.gpus_per_replica}
        if s.accelerator_type:
            bundle[ACCELERATOR + s.accelerator_type] = 0.001
        return [(f"serve replica {i + 1}/{replicas}", _nonzero(bundle)) for i in range(replicas)]
    if isinstance(cfg, TrainConfig):
        sc = cfg.scaling
        bundle = {"CPU": sc.cpus_per_worker, "GPU": 1 if sc.use_gpu else 0}
        if sc.use_gpu and sc.accelerator_type:
            bundle[ACCELERATOR + sc.accelerator_type] = 0.001
        runs = (cfg.tune.max_concurrent_trials or 1) if isinstance(cfg, TuneConfig) else 1
        what = "trial" if isinstance(cfg, TuneConfig) else "run"
        return [(f"{what} {r + 1} worker {w + 1}/{sc.num_workers}", _nonzero(bundle))
                for r in range(runs) for w in range(sc.num_workers)]
    if isinstance(cfg, EvaluateConfig):
        ev = cfg.evaluate
        bundle = {"CPU": ev.cpus_per_worker, "GPU": 1 if ev.use_gpu else 0}
        return [(f"evaluate actor {i + 1}/{ev.num_workers}", _nonzero(bundle)) for i in range(ev.num_workers)]
    raise TypeError(f"no bundles for {type(cfg).__name__}")


def _nonzero(bundle: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in bundle.items() if v}


def unplaceable(nodes: NodeTypes, bundles: list[tuple[str, dict[str, float]]]) -> list[str]:
    """Why each bundle Ray's autoscaler could not place on `nodes` cannot be placed (empty: all fit)."""
    from ray.autoscaler._private.node_provider_availability_tracker import NodeAvailabilitySummary
    from ray.autoscaler._private.resource_demand_scheduler import (
        _default_utilization_scorer,
        get_bin_pack_residual,
        get_nodes_for,
    )

    demands = [dict(b) for _, b in bundles]
    residual, _ = get_bin_pack_residual([dict(nodes.types[nodes.head]["resources"])], demands)
    summary = NodeAvailabilitySummary(node_availabilities={})

    def scorer(node_resources, resources, node_type):
        return _default_utilization_scorer(node_resources, resources, node_type, node_availability_summary=summary)

    worker_types = {name: t for name, t in nodes.types.items() if name != nodes.head}
    _, infeasible = get_nodes_for(worker_types, {}, nodes.head, nodes.max_workers, residual, scorer)
    out, left = [], list(infeasible)
    for label, bundle in bundles:
        if bundle in left:
            left.remove(bundle)
            out.append(f"{label} {bundle}: {_why(nodes, bundle)}")
    return out


def _why(nodes: NodeTypes, bundle: dict[str, float]) -> str:
    for resource, amount in bundle.items():
        offered = [t["resources"].get(resource, 0) for t in nodes.types.values()]
        if not any(offered):
            return f"no node type of {nodes.source} has {resource}"
        if max(offered) < amount:
            return f"no node type of {nodes.source} has {amount:g} {resource} (at most {max(offered):g})"
    return f"more nodes than {nodes.source} allows (max_workers per type and {nodes.max_workers} in all)"
