"""Model references in a pod spec: every container, init container and ephemeral container."""

from __future__ import annotations

import dataclasses
from typing import Any

from mlgate.errors import InputError
from mlgate.subjects.base import ModelRef, expect_mapping, model_annotations
from mlgate.subjects.commandline import ContainerScan, scan_container
from mlgate.subjects.mounts import local_path, locate
from mlgate.subjects.servers import ServerCatalog
from mlgate.subjects.verifiers import runs_verifier

CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")
IDLE_SERVER = "server"  # role of a server container with no model, before resolve_idle()


def containers(spec: dict[str, Any], where: str) -> list[tuple[dict[str, Any], str]]:
    """(container, JSON path) for every container of a pod spec, in start order."""
    out = []
    for key in CONTAINER_LISTS:
        items = spec.get(key) or []
        if not isinstance(items, list):
            raise InputError(f"{key} must be a list", location=f"{where}/{key}")
        for i, item in enumerate(items):
            out.append((expect_mapping(item, f"{where}/{key}/{i}"), f"{where}/{key}/{i}"))
    return out


def scan_refs(
    scan: ContainerScan,
    component: str,
    runtime: str,
    annotations: dict[str, str],
    image: str = "",
) -> list[ModelRef]:
    """ModelRefs for what one container (or entry point) names."""
    refs: list[ModelRef] = []
    for n, found in enumerate(scan.models):
        if found.adapter:
            sub = f"{component}/lora/{found.adapter}"
        else:
            sub = component if n == 0 else f"{component}/{n}"
        refs.append(
            ModelRef(
                component=sub,
                uri=found.uri,
                annotations=model_annotations(annotations, sub),
                name=found.adapter,
                runtime=found.runtime or runtime,
                tokenizer=found.tokenizer,
            )
        )
    reasons = list(dict.fromkeys(scan.unresolved))
    if reasons:
        sub = f"{component}/unresolved" if refs else component
        refs.append(
            ModelRef(
                component=sub,
                uri="",
                annotations=model_annotations(annotations, sub),
                runtime=runtime,
                role="unresolved",
                reason="; ".join(reasons),
            )
        )
    if not refs and (runtime or scan.runtimes):
        what = f"image {image}" if image else "its command"
        refs.append(
            ModelRef(
                component=component,
                uri="",
                annotations=model_annotations(annotations, component),
                runtime=runtime,
                role=IDLE_SERVER,
                reason=(
                    f"{what} starts the {runtime or '/'.join(sorted(scan.runtimes))} model server, "
                    "but no model is named in its command, args, lifecycle hooks or environment"
                ),
            )
        )
    return refs


def pod_spec_refs(
    spec: dict[str, Any],
    where: str,
    annotations: dict[str, str],
    catalog: ServerCatalog,
    prefix: str = "",
) -> list[ModelRef]:
    refs: list[ModelRef] = []
    for container, cwhere in containers(spec, where):
        name = str(container.get("name", "")) or cwhere.rsplit("/", 1)[-1]
        image = container.get("image") if isinstance(container.get("image"), str) else ""
        server = catalog.match(image or "")
        scan = scan_container(container, cwhere)
        if "/initContainers/" in cwhere and runs_verifier(container, catalog.verifier_images):
            # Its `--model-dir DIR` is the directory it checks (SC-POD-START-VERIFY judges the
            # step); any other model flag on it is read like anyone else's.
            scan.models = [m for m in scan.models if m.origin.split()[-1:] != ["--model-dir"]]
        runtime = server.runtime if server else next(iter(sorted(scan.runtimes)), "")
        found = scan_refs(scan, f"{prefix}container/{name}", runtime, annotations, image or "")
        refs += [
            dataclasses.replace(r, site=model_site(r.uri, container, spec, prefix)) for r in found
        ]
    return refs


def model_site(
    uri: str, container: dict[str, Any], spec: dict[str, Any], pod: str
) -> dict[str, Any]:
    """Where ``container`` reads the model it names: a place in its pod (mounts.locate) for
    a local path; ``path: None`` for a URI the server fetches itself."""
    name = str(container.get("name", ""))
    path = local_path(uri, container)
    where = locate(path, container, spec) if path else {"path": None}
    return {"pod": pod, "container": name, "uri": uri, **where}


def resolve_idle(refs: list[ModelRef]) -> list[ModelRef]:
    """Server containers without a model of their own are fine when another part of the same
    object serves that runtime's model (vLLM workers joining a leader, Ray worker groups);
    otherwise they are unresolved references."""
    served = {r.runtime for r in refs if r.role == "model"}
    out = []
    for ref in refs:
        if ref.role != IDLE_SERVER:
            out.append(ref)
        elif ref.runtime not in served:
            out.append(ModelRef(**{**ref.__dict__, "role": "unresolved"}))
    return out
