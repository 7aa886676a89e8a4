"""Where a path inside a container lands in its pod: which volume, which path in it, who else
can write there.

A pod-start verifier proves something only about the bytes it read. Whether the model server
reads the same bytes is a question of volumes, not of paths: two containers can mount
different volumes (or different ``subPath``s of one volume) at the same path, and one
volume at different paths. So both sides are reduced to ``(volume, path inside the
volume)`` the way the kubelet builds the container's filesystem (the longest ``mountPath``
that contains the path wins; ``subPath`` is the volume directory mounted there).
"""

from __future__ import annotations

import posixpath
from typing import Any

CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")
# Volume sources that exist only inside one pod and only from its start: nothing outside the
# pod (another pod, the node, a controller) can change what a container wrote there.
POD_PRIVATE_VOLUMES = frozenset({"emptyDir"})


def _mounts(container: dict[str, Any]) -> list[dict[str, Any]]:
    mounts = container.get("volumeMounts")
    return [m for m in mounts if isinstance(m, dict)] if isinstance(mounts, list) else []


def volume_type(pod_spec: dict[str, Any], name: str) -> str | None:
    """``emptyDir``, ``persistentVolumeClaim``, ``hostPath``, ... of a pod's volume."""
    volumes = pod_spec.get("volumes")
    for volume in volumes if isinstance(volumes, list) else []:
        if isinstance(volume, dict) and volume.get("name") == name:
            return next((k for k in volume if k != "name"), None)
    return None


def local_path(uri: str, container: dict[str, Any]) -> str | None:
    """The absolute path a model reference names inside its container, or None when it is
    fetched from elsewhere (``s3://``, ``hf://``, a hub id) and read from no local path."""
    if uri.startswith("file://"):
        uri = uri[len("file://") :]
    elif "://" in uri or not uri:
        return None
    if not uri.startswith("/"):
        workdir = container.get("workingDir")
        if not isinstance(workdir, str) or not workdir.startswith("/"):
            return None  # relative to an image's working directory mlgate cannot see
        uri = posixpath.join(workdir, uri)
    return posixpath.normpath(uri)


def locate(path: str, container: dict[str, Any], pod_spec: dict[str, Any]) -> dict[str, Any]:
    """``path`` (absolute, as the container sees it) as a place in the pod."""
    path = posixpath.normpath(path)
    best: dict[str, Any] | None = None
    best_len = -1
    for mount in _mounts(container):
        mount_path = mount.get("mountPath")
        if not isinstance(mount_path, str) or not mount_path.startswith("/"):
            continue
        root = posixpath.normpath(mount_path)
        inside = path == root or path.startswith(root.rstrip("/") + "/")
        if inside and len(root) > best_len:
            best, best_len = mount, len(root)
    out: dict[str, Any] = {"path": path, "volume": None, "volume_path": None,
                           "volume_type": None, "read_only": False}  # fmt: skip
    if best is None:
        return out  # the container's own filesystem (its image)
    name = str(best.get("name", ""))
    rest = posixpath.relpath(path, posixpath.normpath(best["mountPath"]))
    out["volume"], out["volume_type"] = name, volume_type(pod_spec, name)
    out["read_only"] = best.get("readOnly") is True
    if "subPathExpr" in best:
        return out  # expanded by the kubelet from the environment: the place is unknown
    sub = best.get("subPath")
    inner = posixpath.normpath(
        posixpath.join("/", sub if isinstance(sub, str) else "", "" if rest == "." else rest)
    )
    out["volume_path"] = inner
    return out


def within(inner: str, outer: str) -> bool:
    """Whether volume path ``inner`` is ``outer`` or lies below it."""
    return inner == outer or inner.startswith(outer.rstrip("/") + "/")


def writers_after(pod_spec: dict[str, Any], init_index: int, volume: str) -> list[dict[str, str]]:
    """Containers that can write ``volume`` once init container ``init_index`` has finished:
    every later init container, every sidecar init container (``restartPolicy`` set: it keeps
    running), every container and ephemeral container that mounts it without ``readOnly``,
    and any of them that reaches the node (privileged, or a writable ``hostPath``), where the
    kubelet keeps every volume of the pod."""
    volumes = pod_spec.get("volumes")
    host = {
        v.get("name")
        for v in (volumes if isinstance(volumes, list) else [])
        if isinstance(v, dict) and "hostPath" in v
    }
    out: list[dict[str, str]] = []
    for key in CONTAINER_LISTS:
        items = pod_spec.get(key)
        for i, container in enumerate(items if isinstance(items, list) else []):
            if not isinstance(container, dict):
                continue
            if key == "initContainers" and (
                i == init_index or (i < init_index and container.get("restartPolicy") is None)
            ):
                continue  # the step itself, or finished before it started
            name = str(container.get("name", ""))
            context = container.get("securityContext")
            if isinstance(context, dict) and context.get("privileged") is True:
                out.append({"container": name, "mount_path": "any path (privileged)"})
                continue
            for mount in _mounts(container):
                if mount.get("readOnly") is True:
                    continue
                path = str(mount.get("mountPath", ""))
                if mount.get("name") == volume:
                    out.append({"container": name, "mount_path": path})
                elif mount.get("name") in host:
                    out.append({"container": name, "mount_path": f"{path} (a hostPath)"})
    return out
