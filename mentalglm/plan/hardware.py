"""GPU types the planner knows: memory and dense bf16 peak, and which GPU a config's workers get.

Memory is what `nvidia-smi` reports as total for the card (GiB), peak is the vendor datasheet's dense (no
sparsity) bf16 tensor-core figure. The worker type comes from the cluster launcher file (`ray.cluster`): its
node type's `InstanceType` when it is a known cloud instance, else its `accelerator_type:` resource; `plan.gpu`
overrides both.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mentalglm.cluster.shape import load_cluster_shape
from mentalglm.config import ConfigError

GIB = 1024**3


@dataclass(frozen=True)
class Gpu:
    """One GPU type: name, total memory (GiB), dense bf16 peak (TFLOP/s; None: no bf16 tensor cores)."""

    name: str
    memory_gib: float
    bf16_tflops: float | None

    @property
    def memory_bytes(self) -> float:
        return self.memory_gib * GIB


GPUS: dict[str, Gpu] = {g.name: g for g in (
    Gpu("A100-40G", 39.4, 312.0),    # A100 SXM4 40 GB: 40,536 MiB
    Gpu("A100-80G", 79.2, 312.0),    # A100 SXM4 80 GB: 81,920 MiB less ECC reserve
    Gpu("H100", 79.6, 989.4),        # H100 SXM5 80 GB
    Gpu("H200", 139.8, 989.4),       # H200 SXM 141 GB
    Gpu("L40S", 44.4, 362.1),
    Gpu("A10G", 22.2, 70.0),         # AWS g5; NVIDIA publishes no figure, 70 is the common estimate
    Gpu("L4", 22.0, 121.0),
    Gpu("V100-16G", 15.8, None),
    Gpu("V100-32G", 31.7, None),
    Gpu("T4", 14.6, None),
)}

# Ray's accelerator_type names (ray.util.accelerators) -> the type planned for. A bare "A100" is planned as the
# 40 GB card: the smaller of the two, so a plan that fits it fits both.
ACCELERATOR_ALIASES = {"A100": "A100-40G", "A100-40G": "A100-40G", "A100-80G": "A100-80G", "H100": "H100",
                       "H200": "H200", "L40S": "L40S", "A10G": "A10G", "L4": "L4", "V100": "V100-16G", "T4": "T4"}

# Cloud instance types whose GPU is unambiguous.
INSTANCE_GPUS = {"p4d.24xlarge": "A100-40G", "p4de.24xlarge": "A100-80G", "p5.48xlarge": "H100",
                 "p5e.48xlarge": "H200", "p5en.48xlarge": "H200", "g6e.xlarge": "L40S", "g6e.12xlarge": "L40S",
                 "g6e.48xlarge": "L40S", "g5.xlarge": "A10G", "g5.12xlarge": "A10G", "g5.48xlarge": "A10G",
                 "g6.xlarge": "L4", "g6.12xlarge": "L4", "g6.48xlarge": "L4",
                 "a2-highgpu-8g": "A100-40G", "a2-ultragpu-8g": "A100-80G", "a3-highgpu-8g": "H100"}


def gpu_named(name: str, key: str = "plan.gpu") -> Gpu:
    """The GPU of a table name or Ray accelerator type (`A100-80G`, `H100`, `A100`).

    Raises:
        ConfigError: naming `key` and the known names.
    """
    canonical = name if name in GPUS else ACCELERATOR_ALIASES.get(name)
    if canonical is None:
        raise ConfigError(f"{key}: unknown GPU type {name!r}; known: {sorted(GPUS)} (or Ray's names "
                          f"{sorted(ACCELERATOR_ALIASES)})")
    return GPUS[canonical]


def _cluster_gpu(cluster: Path, accelerator: str | None) -> tuple[Gpu, str] | None:
    for node in load_cluster_shape(cluster).nodes:
        if not node.gpus or (accelerator and node.accelerator and node.accelerator != accelerator):
            continue
        if node.instance_type in INSTANCE_GPUS:
            return GPUS[INSTANCE_GPUS[node.instance_type]], f"{cluster} node type {node.name} ({node.instance_type})"
        if node.accelerator:
            return (gpu_named(node.accelerator, f"{cluster}: {node.name}"),
                    f"{cluster} node type {node.name} (accelerator_type:{node.accelerator})")
    return None


def worker_gpu(plan_gpu: str | None, cluster: Path | None, accelerator: str | None) -> tuple[Gpu | None, str]:
    """The GPU a run's workers get, and where that was read: `plan.gpu`, else the cluster file's GPU node
    type (matching `scaling.accelerator_type`), else the accelerator type alone; (None, why) when unknown.

    Raises:
        ConfigError: an unknown GPU name in the config or the cluster file.
    """
    if plan_gpu:
        return gpu_named(plan_gpu), "plan.gpu"
    if cluster is not None:
        found = _cluster_gpu(cluster, accelerator)
        if found:
            return found
    if accelerator:
        return gpu_named(accelerator, "scaling.accelerator_type"), "scaling.accelerator_type"
    return None, "no plan.gpu, no GPU node type in ray.cluster, no scaling.accelerator_type"
