"""A loaded, checked policy set: everything a Rego backend and the decision layer need.

Loading does all the parsing, validation and hashing once, so that evaluating a request
does no file I/O and no parsing (DESIGN.md section 7).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from mlgate.errors import PolicyError
from mlgate.policyset.builtins import check_module, defined_functions
from mlgate.policyset.catalogue import Catalogue, load_catalogue
from mlgate.policyset.exemptions import Exemption, load_exemptions
from mlgate.policyset.params import load_params

ENTRYPOINT = "mlgate/main/result"


@dataclass(frozen=True)
class PolicySet:
    root: Path
    modules: dict[str, str]  # relative path -> Rego source (no *_test.rego)
    test_modules: dict[str, str]
    data: dict[str, Any]  # the Rego base document (data.*)
    catalogue: Catalogue
    exemptions: tuple[Exemption, ...]
    revision: str  # sha256 over every file that shapes a decision
    files: tuple[str, ...] = field(default=())

    @property
    def entrypoint(self) -> str:
        return ENTRYPOINT


def default_policy_dir() -> Path:
    """``$MLGATE_POLICIES``, else the policies shipped as package data.

    (In a source tree src/mlgate/policies links to the repository's policies/.)
    """
    env = os.environ.get("MLGATE_POLICIES")
    return Path(env) if env else Path(str(resources.files("mlgate") / "policies")).resolve()


def load_policy_set(path: Path | str) -> PolicySet:
    root = Path(path)
    if not root.is_dir():
        raise PolicyError("policy directory not found", location=str(root))
    # Dot-directories are skipped: a ConfigMap mount keeps a second copy under ..data/.
    rego_files = sorted(
        p
        for p in root.rglob("*.rego")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )
    if not rego_files:
        raise PolicyError("no .rego modules found", location=str(root))
    modules: dict[str, str] = {}
    tests: dict[str, str] = {}
    digest = hashlib.sha256()
    for p in rego_files:
        rel = p.relative_to(root).as_posix()
        try:
            source = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise PolicyError(f"cannot read Rego module: {err}", location=str(p)) from None
        (tests if p.name.endswith("_test.rego") else modules)[rel] = source

    catalogue_path = root / "controls.yaml"
    if not catalogue_path.exists():
        raise PolicyError("controls catalogue controls.yaml is missing", location=str(root))
    catalogue = load_catalogue(catalogue_path)
    params_path = root / "params.yaml"
    if not params_path.exists():
        raise PolicyError("parameters file params.yaml is missing", location=str(root))
    params = load_params(params_path)
    exemptions = load_exemptions(root / "exemptions.yaml", catalogue)

    from mlgate.rego.wasm_build import known_builtins

    builtins = known_builtins()
    is_builtin = None if builtins is None else builtins.__contains__
    everything = {**modules, **tests}
    # A package may span files: a function defined in one is called bare in another.
    functions = defined_functions(everything.values())
    problems = []
    for rel, source in everything.items():
        problems += check_module(str(root / rel), source, is_builtin, functions)
    if problems:
        raise PolicyError("unsafe or unsupported builtins: " + "; ".join(map(str, problems)))

    hashed = [*rego_files, catalogue_path, params_path]
    hashed += [p for p in (root / "exemptions.yaml", root / "trust.yaml") if p.exists()]
    for p in sorted(hashed):
        digest.update(p.relative_to(root).as_posix().encode() + b"\0")
        digest.update(p.read_bytes() + b"\0")
    data = {
        "mlgate": {
            "params": params,
            "controls": {
                cid: {"tiers": list(c.tiers), "environments": list(c.environments)}
                for cid, c in catalogue.controls.items()
            },
        }
    }
    return PolicySet(
        root=root,
        modules=modules,
        test_modules=tests,
        data=data,
        catalogue=catalogue,
        exemptions=exemptions,
        revision="sha256:" + digest.hexdigest(),
        files=tuple(p.relative_to(root).as_posix() for p in sorted(hashed)),
    )
