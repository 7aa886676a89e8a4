"""Pod-start verification steps in a pod (template): ``mlgate verify`` in an init container.

An admission webhook cannot hash the bytes behind ``s3://``; the pod can, when it starts.
This module only *reports* what the pod template says it will run; the policy decides
whether that is enough (its image is a configured verifier image, and the digest it will
check is the digest admitted for the reference: ``SC-POD-START-VERIFY``).

Understood forms (init containers only: a check must finish before the server starts):
- ``mlgate verify --model-dir DIR --expect-digest sha256:...`` as command/args, or the
  verifier image's entry point with only the flags as args;
- the digest through ``$(VAR)`` or ``MLGATE_EXPECT_DIGEST``, where VAR is a literal or the
  downward API ``metadata.annotations['mlgate.io/model-digest']`` of the pod itself;
- the storage-initializer form (``SRC DEST`` positional, as KServe runs a
  ``ClusterStorageContainer``) with ``MLGATE_MODELS`` from ``metadata.annotations['mlgate.io/models']``:
  the expected digest is that annotation's entry for SRC.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

from mlgate.subjects.base import ModelRef, normalize_uri

# KServe puts the storage URI on the predictor's pod template and injects its storage
# initializer (or the ClusterStorageContainer for that URI) into each pod; it downloads into
# /mnt/models, which the model server reads.
KSERVE_SOURCE_ANNOTATION = "internal.serving.kserve.io/storage-initializer-sourceuri"
KSERVE_MOUNT = "/mnt/models"
EXPECT_ENV = "MLGATE_EXPECT_DIGEST"
MODELS_ENV = "MLGATE_MODELS"
_VAR = re.compile(r"^\$\(([A-Za-z_][A-Za-z0-9_]*)\)$")
_ANNOTATION_PATH = re.compile(r"""^metadata\.annotations\[['"]([^'"]+)['"]\]$""")


def _env(container: dict[str, Any], annotations: dict[str, str]) -> dict[str, str]:
    """The container's environment, with downward-API annotation references resolved."""
    out: dict[str, str] = {}
    for item in container.get("env") or []:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            continue
        if isinstance(item.get("value"), str):
            out[item["name"]] = item["value"]
            continue
        field = ((item.get("valueFrom") or {}).get("fieldRef") or {}).get("fieldPath")
        match = _ANNOTATION_PATH.match(field) if isinstance(field, str) else None
        if match and match.group(1) in annotations:
            out[item["name"]] = annotations[match.group(1)]
    return out


def _words(container: dict[str, Any]) -> list[str]:
    words: list[str] = []
    for key in ("command", "args"):
        value = container.get(key)
        if isinstance(value, list):
            words += [w for w in value if isinstance(w, str)]
    return words


def _flag(words: list[str], name: str) -> str | None:
    for i, word in enumerate(words):
        if word == name and i + 1 < len(words):
            return words[i + 1]
        if word.startswith(name + "="):
            return word.split("=", 1)[1]
    return None


def _expand(value: str | None, env: dict[str, str]) -> str | None:
    if value is None:
        return None
    match = _VAR.match(value)
    if match:
        return env.get(match.group(1))  # an unresolvable variable names nothing
    return value


def _digest_for(uri: str, models_json: str | None) -> str | None:
    try:
        entries = json.loads(models_json or "")
    except ValueError:
        return None
    if not isinstance(entries, dict):
        return None
    for key, entry in entries.items():
        if isinstance(entry, dict) and normalize_uri(key) == normalize_uri(uri):
            digest = entry.get("digest")
            return digest if isinstance(digest, str) else None
    return None


def image_repository(image: str) -> str:
    """``registry/name`` without tag or digest."""
    name = image.split("@", 1)[0]
    head, _, last = name.rpartition("/")
    return f"{head}/{last.split(':', 1)[0]}" if head else last.split(":", 1)[0]


def kserve_source(models: list[ModelRef], annotations: dict[str, str]) -> list[ModelRef]:
    """A KServe-made pod template: the model read from /mnt/models is the storage URI.

    Without this the Deployment KServe creates for an admitted InferenceService would be
    judged as serving a local path no attestation names. The bytes there are the storage
    initializer's download, so the policy still requires that initializer to verify them
    (the ``kserve_storage_initializer`` step and ``kserve_verified_uri_prefixes``).
    """
    source = annotations.get(KSERVE_SOURCE_ANNOTATION)
    if not source:
        return models
    out = [
        dataclasses.replace(m, uri=source)
        if not m.uri or m.uri == KSERVE_MOUNT or m.uri.startswith(KSERVE_MOUNT + "/")
        else m
        for m in models
    ]
    if not any(m.uri == source for m in out):
        out.append(ModelRef(component="storage-initializer", uri=source, annotations={}))
    unique: dict[tuple[str, str], ModelRef] = {}
    for m in out:
        unique.setdefault((m.component, m.uri), m)
    return list(unique.values())


def verification_steps(
    pod_spec: dict[str, Any], annotations: dict[str, str]
) -> list[dict[str, Any]]:
    """One fact per init container that says it verifies a model at pod start."""
    steps: list[dict[str, Any]] = []
    if annotations.get(KSERVE_SOURCE_ANNOTATION):
        steps.append(
            {
                "container": "storage-initializer (injected by KServe)",
                "kserve_storage_initializer": True,
                "source_uri": annotations[KSERVE_SOURCE_ANNOTATION],
            }
        )
    inits = pod_spec.get("initContainers")
    for container in inits if isinstance(inits, list) else []:
        if not isinstance(container, dict):
            continue
        words = _words(container)
        env = _env(container, annotations)
        says_verify = any(
            w.endswith("mlgate") and i + 1 < len(words) and words[i + 1] == "verify"
            for i, w in enumerate(words)
        )
        expect = _expand(_flag(words, "--expect-digest"), env) or env.get(EXPECT_ENV)
        positional = [w for w in words if not w.startswith("-") and "://" in w]
        source = positional[0] if positional else None
        if expect is None and source is not None and MODELS_ENV in env:
            expect = _digest_for(source, env[MODELS_ENV])
        if not (says_verify or expect is not None or MODELS_ENV in env):
            continue
        image = container.get("image") if isinstance(container.get("image"), str) else ""
        steps.append(
            {
                "container": str(container.get("name", "")),
                "image": image,
                "image_repository": image_repository(image),
                "image_pinned": "@sha256:" in image,
                "expect_digest": expect,
                "model_dir": _expand(_flag(words, "--model-dir"), env),
                "source_uri": source,
            }
        )
    return steps
