"""The Ray cluster every stage runs on: the one reader of `cluster.yaml` (`shape`), whether a request fits
(`capacity`), connecting to or starting Ray (`connect`) and placement by Ray's autoscaler code (`placement`)."""

from mentalglm.cluster.shape import ClusterShape, NodeShape, check_request, load_cluster_shape
from mentalglm.cluster.connect import ensure_ray
from mentalglm.cluster.capacity import check_capacity, runs_at_once

__all__ = ["ClusterShape", "NodeShape", "check_capacity", "check_request", "ensure_ray", "load_cluster_shape",
           "runs_at_once"]

# The modules other packages may import; the rest are this package's own (tests/test_layering.py).
PUBLIC_MODULES = ('capacity', 'connect', 'placement', 'shape', 'signals')
