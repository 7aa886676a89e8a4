"""Which UPDATEs can change the model that runs ("model-bearing" fields).

Model-bearing: ``kind``, name and namespace, the whole ``spec`` except ``spec.replicas``
(containers, args, env, storage URIs, pod-template annotations, ...) and every ``mlgate.io/*``
annotation on the object. Everything else is housekeeping: finalizers, labels, other
annotations, ownerReferences, managedFields, resourceVersion, deletionTimestamp, ``status``
and the replica count. An UPDATE that changes only housekeeping is admitted (and recorded),
so that an object which no longer complies can still be scaled, relabelled and deleted.
"""

from __future__ import annotations

from typing import Any

from mlgate.shapes import mapping
from mlgate.subjects.base import ANNOTATION_PREFIX

HOUSEKEEPING_SPEC_FIELDS = ("replicas",)


def model_bearing(obj: dict[str, Any]) -> dict[str, Any]:
    meta = mapping(obj.get("metadata"))
    annotations = mapping(meta.get("annotations"))
    spec = obj.get("spec")
    if isinstance(spec, dict):
        spec = {k: v for k, v in spec.items() if k not in HOUSEKEEPING_SPEC_FIELDS}
    return {
        "apiVersion": obj.get("apiVersion"),
        "kind": obj.get("kind"),
        "name": meta.get("name"),
        "namespace": meta.get("namespace"),
        "annotations": {
            k: v for k, v in annotations.items() if str(k).startswith(ANNOTATION_PREFIX)
        },
        "spec": spec,
    }


def housekeeping_only(old: dict[str, Any] | None, new: dict[str, Any] | None) -> bool:
    """True when an UPDATE from ``old`` to ``new`` changes no model-bearing field."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        return False
    return model_bearing(old) == model_bearing(new)
