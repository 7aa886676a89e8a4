"""Objects to replay from a cluster: what `mlgate scan` finds, read through the same client
(``ClusterReader``: discovery, paged lists, namespace labels for the environment).

Objects at rest carry their own evidence (annotations, signature references), so, as for
object files, both policy sets judge them exactly, at one instant. As in `mlgate scan`,
controller-made objects are judged through their owner, objects without a model reference
are left out, the deployer is unknown unless given (then access controls are set aside on
both sides), and an object no adapter can read is denied under any policy set: it is
reported as not reproducible, never dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mlgate.impact.model import NOT_REPRODUCIBLE, REFUSED, ReplayItem
from mlgate.impact.objects import FoundObject
from mlgate.scan.audit import Identity, read_cluster
from mlgate.scan.cluster import ClusterReader


@dataclass
class ClusterObjects:
    server: str
    objects: list[FoundObject] = field(default_factory=list)
    invalid: list[ReplayItem] = field(default_factory=list)
    skipped: int = 0
    unserved: list[str] = field(default_factory=list)

    def source(self, namespace: str | None) -> str:
        where = f"namespace {namespace}" if namespace else "all namespaces"
        return f"{len(self.objects) + len(self.invalid)} object(s) from cluster {self.server} ({where})"

    def notes(self) -> list[str]:
        notes = []
        if self.skipped:
            notes.append(
                f"cluster: {self.skipped} object(s) skipped (controller-made, judged through "
                "their owner, or without a model reference), as `mlgate scan` does"
            )
        if self.unserved:
            notes.append(f"cluster: kinds not read (not served): {', '.join(self.unserved)}")
        return notes


def cluster_objects(
    reader: ClusterReader, *, namespace: str | None = None, identity: Identity | None = None
) -> ClusterObjects:
    identity = identity or Identity()
    report, subjects = read_cluster(reader, namespace=namespace, identity=identity)
    skipped = sum(1 for o in report.objects if o.skipped)
    unserved = [u.name for u in report.unserved]
    found = ClusterObjects(report.server, skipped=skipped, unserved=unserved)
    for entry in subjects:
        item = entry.item
        if entry.subject is None:
            found.invalid.append(
                ReplayItem(
                    origin="cluster",
                    ref=item.path,
                    kind=item.kind,
                    namespace=item.namespace,
                    name=item.name,
                    models=[],
                    environment="",
                    status=NOT_REPRODUCIBLE,
                    reason_code=REFUSED,
                    reason=f"invalid {item.kind}: {entry.error}: denied (MLGATE-INPUT-INVALID) "
                    "under any policy set",
                )
            )
            continue
        found.objects.append(
            FoundObject(item.path, entry.subject, origin="cluster", judge_access=identity.known)
        )
    return found
