"""Pod-start verification steps in a pod (template): ``mlgate verify`` in an init container.

An admission webhook cannot hash the bytes behind ``s3://``; the pod can, when it starts.
This module only *reports* what the pod template says it will run; the policy decides
whether that is enough (its image is a configured verifier image, and the digest it will
check is the digest admitted for the reference: ``SC-POD-START-VERIFY``).

Understood forms (init containers only: a check must finish before the server starts),
read with ``mlgate verify``'s own argument parser and digest rule (cli/cmd_verify.py):
- ``mlgate verify --model-dir DIR --expect-digest sha256:...`` as command/args, or the
  verifier image's entry point with only the flags as args;
- the digest through ``$(VAR)`` or ``MLGATE_EXPECT_DIGEST``, where VAR is a literal or the
  downward API ``metadata.annotations['mlgate.io/model-digest']`` of the pod itself;
- the storage-initializer form (``SRC DEST`` positional, as KServe runs a
  ``ClusterStorageContainer``) with ``MLGATE_MODELS`` from ``metadata.annotations['mlgate.io/models']``:
  the expected digest is that annotation's entry for SRC.
A value mlgate cannot see (a Secret, a ConfigMap, ``envFrom``) names no digest.

Besides the digest, each step reports what the policy needs to decide whether the check
covers what the server loads (DESIGN.md 3.4, docs/operator-guide.md "Pod-start verification"):
where the checked directory lands in the pod (``mounts.locate``), who can write that volume
after the check, whether the image is pinned by digest, and whether its arguments replace
the trust policy baked into the verifier image or leave files unchecked.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
from typing import Any

from mlgate.cli.cmd_verify import (
    ENVIRONMENT_ENV,
    EXPECT_ENV,
    MODELS_ENV,
    NAMESPACE_ENV,
    admitted_digest,
    read_arguments,
)
from mlgate.errors import InputError
from mlgate.subjects.base import ModelRef
from mlgate.subjects.mounts import local_path, locate, within, writers_after

# KServe puts the storage URI on the predictor's pod template and injects its storage
# initializer (or the ClusterStorageContainer for that URI) into each pod; it downloads into
# /mnt/models, which the model server reads.
KSERVE_SOURCE_ANNOTATION = "internal.serving.kserve.io/storage-initializer-sourceuri"
KSERVE_MOUNT = "/mnt/models"
KSERVE_INITIALIZER = "storage-initializer"
KSERVE_CONTAINER = "kserve-container"
_VAR_ANYWHERE = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")
POD_VERIFY_ENTRYPOINT = "mlgate-pod-verify"
# The trust policy baked into the verifier image (webhook/verifier/Dockerfile): the only one a
# pod-start check may use; a directory the deployer mounts is the deployer's trust policy.
VERIFIER_POLICIES = "/opt/mlgate/policies"
POLICIES_ENV = "MLGATE_POLICIES"
_ANNOTATION_PATH = re.compile(r"""^metadata\.annotations\[['"]([^'"]+)['"]\]$""")
_UNSEEN = "\0unseen"  # an environment value mlgate cannot read, as argparse defaults see it


def _env(
    container: dict[str, Any], annotations: dict[str, str], namespace: str | None = None
) -> dict[str, str | None]:
    """The container's environment as the kubelet builds it: a later entry replaces an
    earlier one of the same name; a value mlgate cannot see (a secret, a ConfigMap, another
    field) is None, never dropped (it may replace a value that is visible). The downward
    API's own annotations and namespace are resolved."""
    out: dict[str, str | None] = {}
    items = container.get("env")
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            continue
        if isinstance(item.get("value"), str):
            out[item["name"]] = item["value"]
            continue
        source = item.get("valueFrom")
        ref = source.get("fieldRef") if isinstance(source, dict) else None
        field = ref.get("fieldPath") if isinstance(ref, dict) else None
        match = _ANNOTATION_PATH.match(field) if isinstance(field, str) else None
        # The kubelet sets an absent annotation as an empty string.
        out[item["name"]] = annotations.get(match.group(1), "") if match else None
        if field == "metadata.namespace":
            out[item["name"]] = namespace
    return out


def _words(container: dict[str, Any]) -> list[str]:
    words: list[str] = []
    for key in ("command", "args"):
        value = container.get(key)
        if isinstance(value, list):
            words += [w for w in value if isinstance(w, str)]
    return words


def _expand_all(words: list[str], env: dict[str, str | None]) -> list[str] | None:
    """``$(VAR)`` expanded as the kubelet does; None when a word depends on a value mlgate
    cannot see (or on ``$$`` escaping, which it does not model)."""
    out = []
    for word in words:
        if "$$" in word:
            return None
        names = _VAR_ANYWHERE.findall(word)
        if any(env.get(n) is None for n in names):
            return None
        out.append(_VAR_ANYWHERE.sub(lambda m: env[m.group(1)] or "", word))
    return out


def _verify_argv(container: dict[str, Any], words: list[str]) -> tuple[str, list[str]] | None:
    """(form, the arguments ``mlgate verify`` receives), or None when the container runs
    something else.

    ``mlgate verify ...`` as the command (form ``mlgate``); or the verifier image's entry
    point (``mlgate-pod-verify``, webhook/verifier/): flags are passed on after the image's
    own ``--policies`` (form ``entrypoint``), and ``SRC DEST`` (the storage-initializer form)
    becomes ``--model-dir DEST --storage-uri SRC`` (form ``initializer``).
    """
    for i, word in enumerate(words[:-1]):
        if (word == "mlgate" or word.endswith("/mlgate")) and words[i + 1] == "verify":
            return "mlgate", words[i + 2 :]
    command = container.get("command")
    if command:
        if not (isinstance(command, list) and str(command[0]).endswith(POD_VERIFY_ENTRYPOINT)):
            return None
        words = words[1:]
    if not words or words[0].startswith("-"):
        return "entrypoint", words
    if len(words) == 2:
        return "initializer", ["--model-dir", words[1], "--storage-uri", words[0]]
    return None


# `mlgate verify` options that replace the image's trust policy or leave files unchecked.
_OVERRIDES = (
    ("key", "--key"), ("cert_chain", "--cert-chain"),
    ("allow_intermediate_anchor", "--allow-intermediate-anchor"), ("identity", "--identity"),
    ("identity_regex", "--identity-regex"), ("issuer", "--issuer"),
    ("trust_config", "--trust-config"), ("staging", "--staging"),
)  # fmt: skip


def _trust_facts(form: str, args: Any, env: dict[str, str | None]) -> dict[str, Any]:
    """What the check trusts and skips: the policy directory, options that override it, and
    the scope (environment, namespace) it evaluates trust.yaml in; None where unreadable."""
    policies: str | None = str(args.policies) if args.policies is not None else None
    if policies is None and form != "mlgate":
        policies = env.get(POLICIES_ENV, VERIFIER_POLICIES)  # the entry point's --policies
    overrides = [flag for attr, flag in _OVERRIDES if getattr(args, attr, None)]
    overrides += [f"--ignore {p}" for p in args.ignore or []]
    return {
        "policies": policies,
        "image_policies": VERIFIER_POLICIES,
        "overrides": overrides,
        "scope": {
            "environment": None if args.environment == _UNSEEN else args.environment,
            "namespace": None if args.namespace == _UNSEEN else args.namespace,
        },
    }


def image_repository(image: str) -> str:
    """``registry/name`` without tag or digest."""
    name = image.split("@", 1)[0]
    head, _, last = name.rpartition("/")
    return f"{head}/{last.split(':', 1)[0]}" if head else last.split(":", 1)[0]


def kserve_source(
    models: list[ModelRef], annotations: dict[str, str], pod_spec: dict[str, Any], pod: str = ""
) -> list[ModelRef]:
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
        # KServe's server reads /mnt/models without naming it: its own container's view.
        server = _kserve_container(pod_spec)
        site = None
        if server is not None:
            site = {"pod": pod, "container": KSERVE_CONTAINER, "uri": KSERVE_MOUNT,
                    **locate(KSERVE_MOUNT, server, pod_spec)}  # fmt: skip
        out.append(ModelRef(component="storage-initializer", uri=source, annotations={}, site=site))
    unique: dict[tuple[str, str], ModelRef] = {}
    for m in out:
        unique.setdefault((m.component, m.uri), m)
    return list(unique.values())


def _kserve_container(pod_spec: dict[str, Any]) -> dict[str, Any] | None:
    containers = pod_spec.get("containers")
    return (
        next(
            (c for c in containers if isinstance(c, dict) and c.get("name") == KSERVE_CONTAINER),
            None,
        )
        if isinstance(containers, list)
        else None
    )


def _step(
    container: dict[str, Any], annotations: dict[str, str], namespace: str | None
) -> dict[str, Any] | None:
    """What one init container verifies, or None when it does not claim to verify anything.

    The digest is read the way ``mlgate verify`` reads it (its own argument parser and
    ``admitted_digest``): a repeated or abbreviated flag, ``--storage-uri`` with
    ``$MLGATE_MODELS`` or an environment entry that replaces another cannot make the webhook
    see one digest while the pod checks another. Anything mlgate cannot read names no digest.
    """
    words = _words(container)
    env = _env(container, annotations, namespace)
    found = _verify_argv(container, words)
    claims = (
        found is not None
        or EXPECT_ENV in env
        or MODELS_ENV in env
        or any(w.startswith("--expect") for w in words)
    )
    if not claims:
        return None
    form, argv = found if found is not None else ("", None)
    expanded = _expand_all(argv, env) if argv is not None else None
    defaults = {k: _UNSEEN if v is None else v for k, v in env.items()
                if k in (ENVIRONMENT_ENV, NAMESPACE_ENV)}  # fmt: skip
    if container.get("envFrom"):
        defaults = {ENVIRONMENT_ENV: _UNSEEN, NAMESPACE_ENV: _UNSEEN, **defaults}
    args = read_arguments(expanded, defaults) if expanded is not None else None
    readable = not container.get("envFrom") and all(
        env.get(name, "") is not None for name in (EXPECT_ENV, MODELS_ENV, POLICIES_ENV)
    )
    expect = None
    if args is not None and readable:
        visible = {k: v for k, v in env.items() if v is not None}
        with contextlib.suppress(InputError):
            expect = admitted_digest(args, visible)
    image = found if isinstance(found := container.get("image"), str) else ""
    model_dir = (args.model_dir or args.model_dir_opt) if args is not None else None
    at = image.rfind("@sha256:")
    step: dict[str, Any] = {
        "container": str(container.get("name", "")),
        "image": image,
        "image_repository": image_repository(image),
        "image_pinned": at >= 0,
        "image_digest": image[at + 1 :] if at >= 0 else None,
        "expect_digest": expect,
        "model_dir": str(model_dir) if model_dir is not None else None,
        "source_uri": args.storage_uri if args is not None else None,
    }
    if args is not None and readable:
        step |= _trust_facts(form, args, env)
    else:
        step |= {"policies": None, "image_policies": VERIFIER_POLICIES, "overrides": [],
                 "scope": {"environment": None, "namespace": None}}  # fmt: skip
    return step


def verification_steps(
    pod_spec: dict[str, Any],
    annotations: dict[str, str],
    pod: str = "",
    namespace: str | None = None,
) -> list[dict[str, Any]]:
    """One fact per init container that says it verifies a model at pod start.

    ``pod`` is the template's prefix (``leader/``, ``worker/``; empty for one template):
    a step verifies the volumes of its own pod only.
    """
    steps: list[dict[str, Any]] = []
    inits = pod_spec.get("initContainers")
    inits = [c for c in inits if isinstance(c, dict)] if isinstance(inits, list) else []
    # KServe injects nothing when the template already has an init container by that name:
    # what fills /mnt/models is then whatever that container runs.
    own_initializer = any(c.get("name") == KSERVE_INITIALIZER for c in inits)
    if annotations.get(KSERVE_SOURCE_ANNOTATION) and not own_initializer:
        steps.append(
            {
                "container": "storage-initializer (injected by KServe)",
                "kserve_storage_initializer": True,
                "source_uri": annotations[KSERVE_SOURCE_ANNOTATION],
                "pod": pod,
            }
        )
    for i, container in enumerate(inits):
        step = _step(container, annotations, namespace)
        if step is None:
            continue
        # Init containers run one after another and the server starts after the last one. A
        # step gates nothing as a sidecar (restartPolicy set: the next container starts as
        # soon as it runs, pass or fail), and any init container after it can rewrite the
        # bytes it checked; the policy decides which of those it trusts.
        step["blocks_start"] = container.get("restartPolicy") is None
        step["followed_by"] = [str(c.get("name", "")) for c in inits[i + 1 :]]
        step["pod"] = pod
        path = local_path(step["model_dir"], container) if step["model_dir"] else None
        where = locate(path, container, pod_spec) if path else None
        step["location"] = where
        volume = where["volume"] if where else None
        step["writers"] = (
            writers_after(pod_spec, _index(pod_spec, container), volume) if volume else []
        )
        steps.append(step)
    return steps


def runs_verifier(container: dict[str, Any], images: tuple[str, ...]) -> bool:
    """A regular init container of a verifier image that runs ``mlgate verify``: a sidecar
    (it keeps running next to the server) or another image is read like any container."""
    image = container.get("image")
    return (
        container.get("restartPolicy") is None
        and isinstance(image, str)
        and image_repository(image) in images
        and _verify_argv(container, _words(container)) is not None
    )


def serves(step: dict[str, Any], site: dict[str, Any] | None) -> bool:
    """Whether the bytes ``step`` checks are the bytes a container reads at ``site``: the
    same pod, the same volume, and the read path is the checked path or lies inside it."""
    where = step.get("location")
    if not site or not where or site.get("pod") != step.get("pod"):
        return False
    inner, outer = site.get("volume_path"), where.get("volume_path")
    return (
        where.get("volume") is not None
        and site.get("volume") == where["volume"]
        and isinstance(inner, str)
        and isinstance(outer, str)
        and within(inner, outer)
    )


def bind_verified_paths(models: list[ModelRef], steps: list[dict[str, Any]]) -> list[ModelRef]:
    """A server reading a directory that a step verified loads the model that step names
    with ``--storage-uri`` (or the storage-initializer's SRC): that URI is what the
    attestation must name. The local path stays in ``site``; it is never content-addressed,
    whatever the URI says (inputs.binding_facts), so naming a URI earns nothing unchecked."""
    out = []
    for ref in models:
        source = next(
            (s["source_uri"] for s in steps if s.get("source_uri") and serves(s, ref.site)), None
        )
        out.append(dataclasses.replace(ref, uri=source) if source else ref)
    return out


def _index(pod_spec: dict[str, Any], container: dict[str, Any]) -> int:
    return next(i for i, c in enumerate(pod_spec["initContainers"]) if c is container)
