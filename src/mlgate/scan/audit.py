"""The cluster audit: evaluate every model-deploying object that already exists.

Like Gatekeeper's audit and Kyverno's background scan, this judges objects at rest, with the
same adapters, inputs and policies as admission, and the environment from the namespace's
labels. Two things differ from admission, and both are reported rather than hidden:

- **Who deployed is unknown.** An object at rest does not say who created it, so controls of
  the catalogue's ``access`` group (who may deploy what where) cannot be judged. Unless an
  identity is given (``--user``/``--group``, as for ``mlgate check``), their findings are
  set aside with a note on the decision.
- **Controller-made objects are judged through their owner.** A Pod or ReplicaSet whose
  controlling owner is itself a kind the adapters read (a Deployment, a Job, ...) is listed as
  skipped with that reason, as the webhook's matchConditions skip controller requests.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from mlgate.decide import INPUT_ERROR_CONTROL
from mlgate.decision import Decision
from mlgate.errors import InputError
from mlgate.scan.cluster import ClusterReader, ServedKind, UnservedKind
from mlgate.subjects import RequestInfo, Subject, subject_from_object
from mlgate.subjects.kinds import ADAPTERS

ACCESS_GROUP = "access"


@dataclass(frozen=True)
class Identity:
    username: str = ""
    groups: tuple[str, ...] = ()

    @property
    def known(self) -> bool:
        return bool(self.username or self.groups)


@dataclass
class ScannedObject:
    served: ServedKind
    obj: dict[str, Any]
    decision: Decision | None = None
    skipped: str = ""

    @property
    def meta(self) -> dict[str, Any]:
        return self.obj.get("metadata") or {}

    @property
    def name(self) -> str:
        return str(self.meta.get("name", ""))

    @property
    def namespace(self) -> str:
        return str(self.meta.get("namespace", ""))

    @property
    def kind(self) -> str:
        return self.served.kind

    @property
    def path(self) -> str:
        return f"{self.served.path(self.namespace)}/{self.name}"


@dataclass
class ScanReport:
    server: str
    served: list[ServedKind]
    unserved: list[UnservedKind]  # kinds the adapters read that this cluster does not serve
    namespace: str | None = None  # None: every namespace
    objects: list[ScannedObject] = field(default_factory=list)

    @property
    def evaluated(self) -> list[ScannedObject]:
        return [o for o in self.objects if o.decision is not None]

    @property
    def skipped(self) -> list[ScannedObject]:
        return [o for o in self.objects if o.decision is None]


def _controller_owner(obj: dict[str, Any], kinds: set[tuple[str, str]]) -> str:
    """The controlling owner, when it is a kind the adapters read (matched by group and kind)."""
    for owner in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if not isinstance(owner, dict) or not owner.get("controller"):
            continue
        api_version = str(owner.get("apiVersion", ""))
        group = api_version.split("/")[0] if "/" in api_version else ""
        if (group, owner.get("kind")) in kinds:
            return f"{owner['kind']}/{owner.get('name', '')}"
    return ""


def set_aside_access(decision: Decision, access_controls: set[str]) -> Decision:
    """The decision without findings of access controls, which need the deployer's identity."""

    def keep(items: list[Any]) -> list[Any]:
        return [v for v in items if v.control not in access_controls]

    dropped = sorted(
        {v.control for v in decision.violations + decision.warnings + decision.audits}
        & access_controls
    )
    if not dropped:
        return decision
    violations = keep(decision.violations)
    return replace(
        decision,
        allowed=not violations,
        violations=violations,
        warnings=keep(decision.warnings),
        audits=keep(decision.audits),
        notes=[
            *decision.notes,
            f"not judged, the deploying identity of an existing object is unknown: "
            f"{', '.join(dropped)} (pass --user/--group to judge them)",
        ],
    )


@dataclass(frozen=True)
class ClusterSubject:
    """An object of the cluster the policies judge: its subject, or why it cannot have one."""

    item: ScannedObject
    subject: Subject | None
    error: InputError | None = None


def read_cluster(
    reader: ClusterReader, *, namespace: str | None = None, identity: Identity = Identity()
) -> tuple[ScanReport, list[ClusterSubject]]:
    """Every object of every served kind (skipped ones marked in the report), and the
    subjects to judge. Shared by `mlgate scan` and `mlgate impact --cluster`."""
    kinds = {(a.group, a.kind) for a in ADAPTERS}
    served, unserved = reader.served(ADAPTERS)
    report = ScanReport(reader.server, served, unserved, namespace)
    subjects: list[ClusterSubject] = []
    for kind in served:
        if namespace and not kind.namespaced:
            continue
        for obj in reader.objects(kind, namespace):
            item = ScannedObject(kind, obj)
            report.objects.append(item)
            owner = _controller_owner(obj, kinds)
            if owner:
                item.skipped = f"controlled by {owner}: judged through its owner"
                continue
            info = RequestInfo(
                operation="CREATE",
                username=identity.username,
                groups=identity.groups,
                namespace_labels=reader.namespace_labels(item.namespace),
                source="scan",
            )
            try:
                subject = subject_from_object(obj, info)
            except InputError as err:
                subjects.append(ClusterSubject(item, None, err))
                continue
            if subject is None:
                item.skipped = "carries no model reference"
                continue
            subjects.append(ClusterSubject(item, subject))
    return report, subjects


def access_controls(engine: Any) -> set[str]:
    """The catalogue's controls that need the deployer's identity."""
    return {c.id for c in engine.policy_set.catalogue.controls.values() if c.group == ACCESS_GROUP}


def invalid_object(engine: Any, item: ScannedObject, err: InputError) -> Decision:
    """Malformed is not "nothing to check": it is a fail-closed finding."""
    return engine.failed_closed(  # type: ignore[no-any-return]
        {"request": {"kind": item.kind, "name": item.name, "namespace": item.namespace}},
        INPUT_ERROR_CONTROL,
        f"invalid {item.kind}: {err}",
    )


def scan_cluster(
    reader: ClusterReader,
    engine: Any,
    *,
    namespace: str | None = None,
    identity: Identity = Identity(),
) -> ScanReport:
    report, subjects = read_cluster(reader, namespace=namespace, identity=identity)
    access = access_controls(engine)
    for found in subjects:
        if found.subject is None:
            assert found.error is not None
            found.item.decision = invalid_object(engine, found.item, found.error)
            continue
        decision = engine.evaluate_subject(found.subject)
        found.item.decision = decision if identity.known else set_aside_access(decision, access)
    return report
