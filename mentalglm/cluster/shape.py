"""The cluster's shape, read from the one place it is written: the node types of `cluster.yaml`.

Train, tune and serve configs name that file (`ray.cluster: cluster.yaml`); before anything starts, the job's
request (workers or replicas, CPUs and GPUs each, GPU type) is checked against what the autoscaler may
launch at most, so a request no node type can hold fails at once, naming the key to change, instead of
waiting forever for nodes that will never come.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mentalglm.config import ConfigError
from mentalglm.config.loading import check_yaml_shape

ACCELERATOR_PREFIX = "accelerator_type:"


@dataclass(frozen=True)
class NodeShape:
    """One node type: its resources as the file writes them, how many of it the autoscaler may run (`max_nodes`:
    the head once, a worker type up to its and the cluster's `max_workers`), and its cloud instance type (AWS
    `InstanceType`, GCP `machineType`) when the file names one."""

    name: str
    resources: tuple[tuple[str, float], ...]
    max_nodes: int
    instance_type: str | None = None
    min_workers: int = 0
    max_workers: int = 0

    @property
    def cpus(self) -> int:
        """CPUs of one node."""
        return int(dict(self.resources).get("CPU", 0))

    @property
    def gpus(self) -> int:
        """GPUs of one node."""
        return int(dict(self.resources).get("GPU", 0))

    @property
    def accelerator(self) -> str | None:
        """The GPU type the node advertises (`accelerator_type:X`), if any."""
        return next((k[len(ACCELERATOR_PREFIX):] for k, _ in self.resources if k.startswith(ACCELERATOR_PREFIX)),
                    None)

    def holds(self, cpus: float, gpus: float) -> int:
        """How many bundles of (`cpus`, `gpus`) one node of this type holds."""
        by_cpu = int(self.cpus // cpus) if cpus else 10**9
        by_gpu = int(self.gpus // gpus) if gpus else 10**9
        return min(by_cpu, by_gpu)


@dataclass(frozen=True)
class ClusterShape:
    """The node types of a cluster launcher config."""

    path: Path
    nodes: tuple[NodeShape, ...]
    head: str | None = None
    max_workers: int = 0  # the file's cluster-wide `max_workers` (0 when it sets none)

    def describe(self) -> str:
        """One line per node type, for error messages."""
        return "; ".join(f"{n.name}: up to {n.max_nodes} x ({n.cpus} CPU, {n.gpus} GPU"
                         f"{' ' + n.accelerator if n.accelerator else ''})" for n in self.nodes)


def load_cluster_shape(path: str | Path) -> ClusterShape:
    """The node types of a Ray cluster launcher YAML (`available_node_types`, `head_node_type`, `max_workers`).

    Raises:
        ConfigError: naming ray.cluster when the file is missing or has no usable node types.
    """
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        check_yaml_shape(text, f"ray.cluster: {path}")
        raw = yaml.safe_load(text) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"ray.cluster: cannot read {path} ({exc})") from None
    types = raw.get("available_node_types") or {}
    if not types:
        raise ConfigError(f"ray.cluster: {path} has no available_node_types")
    overall = int(raw.get("max_workers", 10**6))
    nodes = []
    for name, spec in types.items():
        count = 1 if name == raw.get("head_node_type") else min(int(spec.get("max_workers", 0)), overall)
        node_config = spec.get("node_config") or {}
        nodes.append(NodeShape(name, tuple((spec.get("resources") or {}).items()), count,
                               node_config.get("InstanceType") or node_config.get("machineType"),
                               int(spec.get("min_workers", 0)), int(spec.get("max_workers", 0))))
    return ClusterShape(path, tuple(nodes), raw.get("head_node_type"), int(raw.get("max_workers", 0)))


def check_request(shape: ClusterShape, bundles: int, cpus: float, gpus: float, accelerator: str | None = None,
                  key: str = "scaling.num_workers") -> int:
    """Fail fast unless `bundles` bundles of (`cpus`, `gpus`) fit the largest cluster `shape` allows; return how
    many such bundles the cluster holds at most (for sweeps: how many trials can run at once).

    Args:
        shape: from `load_cluster_shape`.
        bundles: workers (train), or the most replicas (serve).
        cpus, gpus: per bundle.
        accelerator: GPU type the request needs (e.g. A100); only node types of that type count.
        key: the config key named in the error.

    Raises:
        ConfigError: naming `key` and the cluster file, with what was asked and what the node types offer.
    """
    usable = [n for n in shape.nodes if not gpus or (n.gpus and (accelerator is None or n.accelerator == accelerator))]
    capacity = sum(n.holds(cpus, gpus) * n.max_nodes for n in usable)
    if bundles <= capacity:
        return capacity
    what = f"{bundles} x ({cpus:g} CPU, {gpus:g} GPU{' ' + accelerator if accelerator else ''})"
    if not any(n.holds(cpus, gpus) for n in usable):
        raise ConfigError(f"{key}: no node type of {shape.path} can hold one of {what}; it has: {shape.describe()}")
    raise ConfigError(f"{key}: {what} need more than the {capacity} that {shape.path} can ever run at once "
                      f"({shape.describe()}); lower {key} or raise max_workers there")
