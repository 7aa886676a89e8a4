"""Known model-server images (params.yaml ``model_servers``): which runtime an image is.

A container running a model server loads a model; when mlgate cannot tell which, the object
is still a subject (an unresolved reference) instead of "nothing to check". The list lives
in params.yaml so operators can add their own server images without code changes.
"""

from __future__ import annotations

import fnmatch
import functools
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ModelServer:
    runtime: str
    images: tuple[str, ...]  # globs on the image repository, without tag or digest
    llm: bool = False  # serves generative language models (AI Act Art. 50)


def image_repository(image: str) -> str:
    """``reg:5000/org/img:tag@sha256:..`` -> ``reg:5000/org/img`` (lower case)."""
    repo = image.split("@", 1)[0]
    slash = repo.rfind("/")
    colon = repo.rfind(":")
    if colon > slash:
        repo = repo[:colon]
    return repo.strip().lower()


@dataclass(frozen=True)
class ServerCatalog:
    servers: tuple[ModelServer, ...] = ()
    # supply_chain.verifier_images: repositories whose `--model-dir` is the directory
    # `mlgate verify` checks at pod start, not a model they serve.
    verifier_images: tuple[str, ...] = ()

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> ServerCatalog:
        """From the ``data.mlgate.params`` document (schema-checked at load)."""
        servers = []
        for item in params.get("model_servers") or []:
            servers.append(
                ModelServer(
                    runtime=str(item["runtime"]),
                    images=tuple(str(p).lower() for p in item.get("images", [])),
                    llm=bool(item.get("llm", False)),
                )
            )
        return cls(tuple(servers), _verifier_images(params))

    def match(self, image: str) -> ModelServer | None:
        if not image:
            return None
        repo = image_repository(image)
        for server in self.servers:
            if any(fnmatch.fnmatchcase(repo, pattern) for pattern in server.images):
                return server
        return None

    def runtime(self, name: str) -> ModelServer | None:
        return next((s for s in self.servers if s.runtime == name), None)


def _verifier_images(params: dict[str, Any]) -> tuple[str, ...]:
    """supply_chain.verifier_images of every tier and environment (params are resolved per
    tier and environment; the policy judges each step with its own tier's list)."""
    found: set[str] = set()
    resolved = params.get("resolved")
    for tier in resolved.values() if isinstance(resolved, dict) else []:
        for env in tier.values() if isinstance(tier, dict) else []:
            chain = env.get("supply_chain") if isinstance(env, dict) else None
            images = chain.get("verifier_images") if isinstance(chain, dict) else None
            if isinstance(images, list):
                found.update(i for i in images if isinstance(i, str))
    return tuple(sorted(found))


_BY_REVISION: dict[str, ServerCatalog] = {}


def catalog_for(policy_set: Any) -> ServerCatalog:
    """The catalogue of a loaded policy set, built once per policy revision (hot reloads
    bring a new revision; old entries are dropped)."""
    catalog = _BY_REVISION.get(policy_set.revision)
    if catalog is None:
        catalog = ServerCatalog.from_params(policy_set.data["mlgate"]["params"])
        if len(_BY_REVISION) >= 4:
            _BY_REVISION.clear()
        _BY_REVISION[policy_set.revision] = catalog
    return catalog


@functools.cache
def shipped_catalog() -> ServerCatalog:
    """The catalogue of the default policy directory, for callers without a loaded policy set."""
    from mlgate.policyset.params import load_params
    from mlgate.policyset.policyset import default_policy_dir

    path = default_policy_dir() / "params.yaml"
    return ServerCatalog.from_params(load_params(path)) if path.exists() else ServerCatalog()
