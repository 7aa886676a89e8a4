"""Bounded work per admission request: limits checked before any evaluation.

Every model reference costs a signature check and a policy evaluation, so the work a request
triggers grows with what it contains. These limits keep it bounded; an object past one is
denied at once, with the limit named, before it reaches the evaluation threads. The counts
are taken on the raw object, whatever its kind, so a new adapter is covered without change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CONTAINER_KEYS = ("containers", "initContainers", "ephemeralContainers", "sidecars")


@dataclass(frozen=True)
class RequestLimits:
    max_model_refs: int = 32
    max_containers: int = 64
    max_annotations: int = 128
    max_annotation_bytes: int = 256 * 1024  # the API server's own limit for one object

    def check_object(self, obj: dict[str, Any]) -> str | None:
        """The first limit ``obj`` exceeds, as a message; None when within every limit."""
        counts = _Counts()
        counts.walk(obj, parent="")
        if counts.containers > self.max_containers:
            return (
                f"{counts.containers} containers exceed the limit of {self.max_containers} "
                "per object"
            )
        if counts.annotations > self.max_annotations:
            return (
                f"{counts.annotations} annotations exceed the limit of {self.max_annotations} "
                "per object"
            )
        if counts.annotation_bytes > self.max_annotation_bytes:
            return (
                f"annotations of {counts.annotation_bytes} bytes exceed the limit of "
                f"{self.max_annotation_bytes} bytes per object"
            )
        return None

    def check_models(self, count: int) -> str | None:
        if count > self.max_model_refs:
            return f"{count} model references exceed the limit of {self.max_model_refs} per object"
        return None


class _Counts:
    def __init__(self) -> None:
        self.containers = 0
        self.annotations = 0
        self.annotation_bytes = 0

    def walk(self, node: Any, parent: str) -> None:
        # Iterative: the parser already bounds nesting, but a stack costs nothing here.
        stack: list[tuple[Any, str]] = [(node, parent)]
        while stack:
            value, parent = stack.pop()
            if isinstance(value, dict):
                for key, child in value.items():
                    if key in CONTAINER_KEYS and isinstance(child, list):
                        self.containers += len(child)
                    elif key == "annotations" and parent == "metadata" and isinstance(child, dict):
                        self.annotations += len(child)
                        self.annotation_bytes += sum(_size(k) + _size(v) for k, v in child.items())
                    stack.append((child, key))
            elif isinstance(value, list):
                stack.extend((child, parent) for child in value)


def _size(value: Any) -> int:
    return len(str(value).encode("utf-8", "surrogatepass"))
