"""Objects to replay from files: manifest folders and exported objects (``kubectl get -o
yaml``, whose ``kind: List`` is unpacked). Their evidence is recomputed from the objects
themselves, under each policy set's own trust policy, so these replays are exact."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlgate.cli.cmd_check import _files, load_documents
from mlgate.engine import Engine
from mlgate.errors import InputError
from mlgate.impact.model import Outcome, ReplayItem
from mlgate.scan.audit import access_controls, set_aside_access
from mlgate.subjects import RequestInfo, Subject, subject_from_object
from mlgate.timeutil import now_ns


@dataclass(frozen=True)
class FoundObject:
    ref: str
    subject: Subject
    origin: str = "object"  # "object" (files) | "cluster" (read through the API)
    # False for objects at rest whose deployer is unknown (a cluster, no --user/--group):
    # access controls are set aside on both sides, as `mlgate scan` does.
    judge_access: bool = True


def _unpack(doc: Any) -> list[Any]:
    if isinstance(doc, dict) and doc.get("kind") == "List" and isinstance(doc.get("items"), list):
        return list(doc["items"])
    return [doc]


def find_objects(paths: list[str], info: RequestInfo) -> list[FoundObject]:
    found: list[FoundObject] = []
    for path in _files(paths):
        name = str(path) if path else "<stdin>"
        index = 0
        for doc, line in load_documents(path):
            for obj in _unpack(doc):
                if not isinstance(obj, dict) or "kind" not in obj:
                    continue
                try:
                    subject = subject_from_object(
                        obj, info, base_dir=path.parent if path else Path.cwd()
                    )
                except InputError as err:
                    raise InputError(
                        err.message,
                        location=f"{name}:{line}:{err.location or '/'}",
                        code=err.code,
                    ) from None
                if subject is not None:
                    found.append(FoundObject(f"{name}#{index}", subject))
                index += 1
    return found


def replay_objects(
    objects: list[FoundObject], current: Engine, proposed: Engine, *, trust_changed: bool
) -> Iterator[ReplayItem]:
    at = now_ns()  # one instant for both sets: time-dependent rules see the same clock
    for obj in objects:
        subject = obj.subject
        described = subject.describe()
        inputs = current.build_inputs(subject, now_ns=at)
        proposed_inputs = proposed.build_inputs(subject, now_ns=at) if trust_changed else inputs
        before = current.evaluate_all(inputs, described)
        after = proposed.evaluate_all(proposed_inputs, described)
        if not obj.judge_access:
            before = set_aside_access(before, access_controls(current))
            after = set_aside_access(after, access_controls(proposed))
        yield ReplayItem(
            origin=obj.origin,
            ref=obj.ref,
            kind=subject.kind,
            namespace=subject.namespace,
            name=subject.name,
            models=sorted({str(doc["model"]["name"]) for doc in inputs}),
            environment=subject.environment,
            current=Outcome.of(before),
            proposed=Outcome.of(after),
            proposed_messages={v.control: v.message for v in after.violations},
        )
