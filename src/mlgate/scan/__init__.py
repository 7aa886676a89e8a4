"""`mlgate scan`: audit what already runs in a cluster, through the Kubernetes API.

May import: ``mlgate.decide``, ``mlgate.decision``, ``mlgate.errors`` and ``mlgate.subjects``;
it evaluates through an engine it is given.
"""

from mlgate.scan.audit import Identity, ScannedObject, ScanReport, scan_cluster
from mlgate.scan.cluster import ClusterError, ClusterReader

__all__ = [
    "ClusterError",
    "ClusterReader",
    "Identity",
    "ScanReport",
    "ScannedObject",
    "scan_cluster",
]
