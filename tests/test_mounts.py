"""subjects/mounts.py: a path in a container as a place in its pod (volume, path inside it)."""

from __future__ import annotations

from typing import Any

import pytest

from mlgate.subjects.commandline import scan_container
from mlgate.subjects.mounts import local_path, locate, within, writers_after

SPEC: dict[str, Any] = {
    "volumes": [
        {"name": "models", "emptyDir": {}},
        {"name": "claim", "persistentVolumeClaim": {"claimName": "c"}},
        {"name": "node", "hostPath": {"path": "/"}},
    ]
}


def container(*mounts: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"name": "c", "volumeMounts": list(mounts), **extra}


@pytest.mark.parametrize(
    ("path", "mounts", "volume", "volume_path"),
    [
        ("/models", [{"name": "models", "mountPath": "/models"}], "models", "/"),
        ("/models/a/../b", [{"name": "models", "mountPath": "/models/"}], "models", "/b"),
        ("/models/m.gguf", [{"name": "models", "mountPath": "/models", "subPath": "x"}], "models",
         "/x/m.gguf"),
        # the longest mountPath that contains the path wins
        ("/m/inner/f", [{"name": "models", "mountPath": "/m"}, {"name": "claim", "mountPath": "/m/inner"}],
         "claim", "/f"),
        ("/modelsX", [{"name": "models", "mountPath": "/models"}], None, None),
        ("/opt/model", [], None, None),
    ],
)  # fmt: skip
def test_locate(path: str, mounts: list, volume: str | None, volume_path: str | None) -> None:
    place = locate(path, container(*mounts), SPEC)
    assert (place["volume"], place["volume_path"]) == (volume, volume_path)


def test_a_subpath_expression_is_an_unknown_place() -> None:
    mount = {"name": "models", "mountPath": "/models", "subPathExpr": "$(POD_NAME)"}
    place = locate("/models", container(mount), SPEC)
    assert place["volume"] == "models" and place["volume_path"] is None


def test_volume_type_and_read_only_are_reported() -> None:
    place = locate("/c", container({"name": "claim", "mountPath": "/c", "readOnly": True}), SPEC)
    assert (place["volume_type"], place["read_only"]) == ("persistentVolumeClaim", True)


@pytest.mark.parametrize(
    ("uri", "workdir", "path"),
    [("/models/", None, "/models"), ("file:///m", None, "/m"), ("file://./m", "/srv", "/srv/m"),
     ("file://./m", None, None), ("s3://b/k", None, None), ("hf://org/m", None, None)],
)  # fmt: skip
def test_local_path(uri: str, workdir: str | None, path: str | None) -> None:
    extra = {"workingDir": workdir} if workdir else {}
    assert local_path(uri, container(**extra)) == path


def test_within_is_path_segment_aware() -> None:
    assert within("/a/b", "/a") and within("/a", "/a") and within("/x", "/")
    assert not within("/ab", "/a")


def test_writers_after_a_step() -> None:
    spec = {
        **SPEC,
        "initContainers": [
            {"name": "fill", "volumeMounts": [{"name": "models", "mountPath": "/m"}]},
            {"name": "keep", "restartPolicy": "Always",
             "volumeMounts": [{"name": "models", "mountPath": "/m"}]},
            {"name": "check", "volumeMounts": [{"name": "models", "mountPath": "/m"}]},
            {"name": "late", "volumeMounts": [{"name": "models", "mountPath": "/m", "readOnly": True}]},
        ],
        "containers": [
            {"name": "server", "volumeMounts": [{"name": "models", "mountPath": "/m"}]},
            {"name": "agent", "securityContext": {"privileged": True}},
            {"name": "host", "volumeMounts": [{"name": "node", "mountPath": "/host"}]},
            {"name": "other", "volumeMounts": [{"name": "claim", "mountPath": "/c"}]},
        ],
        "ephemeralContainers": [{"name": "debug", "volumeMounts": [{"name": "models", "mountPath": "/m"}]}],
    }  # fmt: skip
    names = [w["container"] for w in writers_after(spec, 2, "models")]
    assert names == ["keep", "server", "agent", "host", "debug"]


@pytest.mark.parametrize(
    "command",
    [
        ["sh", "-c", 'exec "$0" "$@"', "vllm", "serve", "s3://b/m"],
        ["sh", "-c", 'vllm serve "$1"', "sh", "s3://b/m"],
        ["sh", "-c", 'eval "vllm serve s3://b/m"'],
        ["sh", "-c", "exec bash -c 'vllm serve s3://b/m'"],
    ],
)
def test_shell_parameters_eval_and_nested_shells_are_read(command: list[str]) -> None:
    assert [m.uri for m in scan_container({"command": command}, "/c").models] == ["s3://b/m"]
