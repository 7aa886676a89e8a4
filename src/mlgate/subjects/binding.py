"""Which evidence belongs to which model reference.

A signature or attestation proves something only about the model it was issued for, so
evidence is attached per reference (DESIGN.md 3.4):

1. an entry of the ``mlgate.io/models`` annotation, keyed by the reference's component
   (``predictor``, ``transformer``, ``predictor/storageUris/0``, ``container/vllm``) or by its
   URI (compared after ``normalize_uri``);
2. else the per-component annotations ``mlgate.io/model-digest.<component>`` (and the same
   suffix on the signature/attestation keys);
3. else the object-wide ``mlgate.io/model-digest``/``signature``/``attestation`` annotations,
   **only** when the object references exactly one model (one distinct URI). With several,
   a reference without its own entry has no evidence: it is unsigned.

``mlgate.io/models`` is a JSON object::

    {"predictor": {"digest": "sha256:...", "signature-ref": "credit/model.sig",
                   "attestation-ref": "credit/governance.json"},
     "s3://adapters/sql-lora": {"digest": "sha256:...", "signature": "<base64 bundle>",
                                "attestation": "<base64 bundle>"}}
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

from mlgate.errors import InputError
from mlgate.shapes import sequence
from mlgate.subjects.base import (
    ATTESTATION,
    ATTESTATION_REF,
    BREAK_GLASS,
    DIGEST,
    MODEL_KEYS,
    MODELS,
    SIGNATURE,
    SIGNATURE_REF,
    ModelRef,
    normalize_uri,
)

# mlgate.io/models entry field -> the annotation it stands for.
ENTRY_FIELDS = {
    "digest": DIGEST,
    "signature": SIGNATURE,
    "signature-ref": SIGNATURE_REF,
    "attestation": ATTESTATION,
    "attestation-ref": ATTESTATION_REF,
}
MAX_MODELS_ENTRIES = 64


def parse_models_annotation(value: str, where: str) -> dict[str, dict[str, str]]:
    """``mlgate.io/models`` -> {key: {annotation: value}}; InputError naming the entry."""
    try:
        doc = json.loads(value)
    except ValueError as err:
        raise InputError(
            f"{MODELS} is not valid JSON: {err}", location=where, code="models.not_json"
        ) from None
    if not isinstance(doc, dict):
        raise InputError(
            f"{MODELS} must be a JSON object keyed by component or URI",
            location=where,
            code="models.not_an_object",
        )
    if len(doc) > MAX_MODELS_ENTRIES:
        raise InputError(
            f"{MODELS} has more than {MAX_MODELS_ENTRIES} entries",
            location=where,
            code="models.too_many",
        )
    out: dict[str, dict[str, str]] = {}
    for key, entry in doc.items():
        here = f"{where}[{key!r}]"
        if not isinstance(entry, dict):
            raise InputError(
                "entry must be an object (digest, signature-ref, ...)",
                location=here,
                code="models.entry_not_an_object",
            )
        unknown = sorted(set(entry) - set(ENTRY_FIELDS))
        if unknown:
            raise InputError(
                f"unknown field(s) {', '.join(unknown)}; expected {', '.join(ENTRY_FIELDS)}",
                location=here,
                code="models.unknown_field",
            )
        for field, item in entry.items():
            if not isinstance(item, str):
                raise InputError(
                    f"{field} must be a string",
                    location=f"{here}.{field}",
                    code="models.not_a_string",
                )
        out[key] = {ENTRY_FIELDS[f]: v for f, v in entry.items()}
    return out


def _suffixed(annotations: dict[str, str], component: str) -> dict[str, str]:
    suffix = "." + component.replace("/", ".")
    return {k: annotations[k + suffix] for k in MODEL_KEYS if k + suffix in annotations}


def bind_evidence(
    models: list[ModelRef], annotations: dict[str, str], where: str
) -> list[ModelRef]:
    """The references with exactly the evidence that names each of them."""
    entries: dict[str, dict[str, str]] = {}
    if MODELS in annotations:
        entries = parse_models_annotation(
            annotations[MODELS], f"{where}/metadata/annotations/mlgate.io~1models"
        )
    by_uri = {normalize_uri(k): v for k, v in entries.items() if "://" in k or "/" in k}
    single = len({normalize_uri(m.uri) for m in models}) == 1
    object_wide = {k: v for k, v in annotations.items() if k in MODEL_KEYS}
    out: list[ModelRef] = []
    for ref in models:
        own = entries.get(ref.component)
        if own is None:
            own = by_uri.get(normalize_uri(ref.uri)) if ref.uri else None
        if own is not None:
            evidence, scope = dict(own), "reference"
        elif suffixed := _suffixed(annotations, ref.component):
            evidence, scope = suffixed, "reference"
        elif single:
            evidence, scope = dict(object_wide), "object"
        else:
            evidence, scope = {}, "none"
        if BREAK_GLASS in annotations:
            evidence[BREAK_GLASS] = annotations[BREAK_GLASS]
        out.append(dataclasses.replace(ref, annotations=evidence, evidence=scope))
    return out


_COMMIT = re.compile(r"^[0-9a-f]{40}$")


def pin_revisions(models: list[ModelRef], pod_spec: dict[str, Any]) -> list[ModelRef]:
    """``--revision <40-hex commit>`` (vLLM, TGI) pins a Hugging Face reference of that container.

    The reference becomes ``hf://org/model@<commit>``: content-addressed, and bound through
    the attested URI that names the same commit. A branch or tag (``--revision main``) pins
    nothing and leaves the reference mutable. So does a commit in a container that mounts a
    volume something else can fill: the Hugging Face client trusts its cache, and vLLM a local
    directory named like the repository, without hashing either.
    """
    revisions: dict[str, str] = {}
    containers = pod_spec.get("containers")
    for c in containers if isinstance(containers, list) else []:
        if not isinstance(c, dict) or _mounts_fillable_volume(c, pod_spec):
            continue
        words = [w for k in ("command", "args") for w in (c.get(k) or []) if isinstance(w, str)]
        for i, word in enumerate(words):
            value = word.split("=", 1)[1] if word.startswith("--revision=") else None
            if word == "--revision" and i + 1 < len(words):
                value = words[i + 1]
            if value and _COMMIT.match(value):
                revisions[f"container/{c.get('name', '')}"] = value
    out = []
    for ref in models:
        rev = revisions.get(ref.component)
        uri = normalize_uri(ref.uri) if rev else ""
        if rev and uri.startswith("hf://") and "@" not in uri:
            ref = dataclasses.replace(ref, uri=f"{uri}@{rev}")
        out.append(ref)
    return out


def _mounts_fillable_volume(container: dict[str, Any], pod_spec: dict[str, Any]) -> bool:
    """True unless every volume the container mounts is an emptyDir no other container mounts
    (a persistent, host, ConfigMap or shared volume can hold files placed before it starts)."""
    volumes = pod_spec.get("volumes")
    by_name = (
        {v.get("name"): v for v in volumes if isinstance(v, dict)}
        if isinstance(volumes, list)
        else {}
    )
    others = [
        other
        for key in ("initContainers", "containers", "ephemeralContainers")
        for other in sequence(pod_spec.get(key))
        if isinstance(other, dict) and other is not container
    ]
    for mount in container.get("volumeMounts") or []:
        name = mount.get("name") if isinstance(mount, dict) else None
        if not isinstance(by_name.get(name, {}).get("emptyDir"), dict):
            return True
        for other in others:
            mounts = other.get("volumeMounts")
            if any(isinstance(m, dict) and m.get("name") == name for m in mounts or []):
                return True
    return False


def describe_entry(component: str, evidence: dict[str, Any]) -> str:
    """One ``mlgate.io/models`` entry as JSON (what ``mlgate sign``/``attest`` print)."""
    fields = {f: evidence[f] for f in ENTRY_FIELDS if evidence.get(f)}
    return json.dumps({component: fields}, separators=(", ", ": "))
