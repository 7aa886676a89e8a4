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
from mlgate.policyset.catalogue import Catalogue, parse_catalogue
from mlgate.policyset.consistency import catalogue_problems
from mlgate.policyset.exemptions import Exemption, parse_exemptions
from mlgate.policyset.params import check_params_document
from mlgate.policyset.trustfiles import hash_into, trusted_files
from mlgate.policyset.validation import PolicyDataError, Problem, raise_if, schema_problems
from mlgate.policyset.yamlfile import LineMap, load_yaml_file

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
    # Files outside the Rego/YAML set that the revision covers (trust.yaml's keys, CAs,
    # trust configs), resolved: the reloader watches them too.
    watched: tuple[Path, ...] = field(default=())

    @property
    def entrypoint(self) -> str:
        return ENTRYPOINT


def default_policy_dir() -> Path:
    """``$MLGATE_POLICIES``, else the policies shipped as package data.

    (In a source tree src/mlgate/policies links to the repository's policies/.)
    """
    env = os.environ.get("MLGATE_POLICIES")
    return Path(env) if env else Path(str(resources.files("mlgate") / "policies")).resolve()


@dataclass(frozen=True)
class PolicyData:
    """The checked YAML half of a policy set: catalogue, resolved parameters, exemptions."""

    catalogue: Catalogue
    params: dict[str, Any]
    exemptions: tuple[Exemption, ...]

    @property
    def data(self) -> dict[str, Any]:
        """The Rego base document (``data.mlgate``)."""
        return {
            "mlgate": {
                "params": self.params,
                "controls": {
                    cid: {"tiers": list(c.tiers), "environments": list(c.environments)}
                    for cid, c in self.catalogue.controls.items()
                },
            }
        }


Parsed = tuple[Any, LineMap]


def check_policy_data(
    controls: Parsed | None,
    params: Parsed | None,
    exemptions: Parsed | None,
    trust: Parsed | None = None,
    *,
    catalogue: Catalogue | None = None,
    resolved: dict[str, Any] | None = None,
) -> PolicyData:
    """Validates the parsed data files together; PolicyDataError lists every problem found
    in every file (one file's errors do not hide another's). trust.yaml gets its schema check
    here; its keys and certificates are compiled by the supply-chain verifier.

    ``catalogue`` and ``resolved`` are results already checked, used instead of parsing
    ``controls`` and ``params`` (the mutation run re-checks only the file it changed)."""
    problems: list[Problem] = []
    if trust is not None:
        problems += schema_problems(trust[0], "trust.schema.json", trust[1])
    if catalogue is None and controls is not None:
        try:
            catalogue = parse_catalogue(*controls)
        except PolicyDataError as err:
            problems += err.problems
    if resolved is None and params is not None:
        try:
            resolved = check_params_document(*params)
        except PolicyDataError as err:
            problems += err.problems
    if catalogue is not None and resolved is not None:
        problems += catalogue_problems(catalogue, resolved["environments"])
    found: tuple[Exemption, ...] = ()
    if exemptions is not None and catalogue is not None:
        try:
            envs = resolved["environments"] if resolved is not None else ()
            found = parse_exemptions(*exemptions, catalogue, envs)
        except PolicyDataError as err:
            problems += err.problems
    raise_if(problems)
    assert catalogue is not None and resolved is not None
    return PolicyData(catalogue=catalogue, params=resolved, exemptions=found)


def load_policy_data(root: Path | str) -> PolicyData:
    """The checked YAML half of a policy directory (no Rego): for diffs and tools."""
    root = Path(root)
    if not root.is_dir():
        raise PolicyError("policy directory not found", location=str(root))
    for name, what in (("controls.yaml", "controls catalogue"), ("params.yaml", "parameters file")):
        if not (root / name).exists():
            raise PolicyError(f"{what} {name} is missing", location=str(root))
    exemptions, trust = root / "exemptions.yaml", root / "trust.yaml"
    return check_policy_data(
        load_yaml_file(root / "controls.yaml"),
        load_yaml_file(root / "params.yaml"),
        load_yaml_file(exemptions) if exemptions.exists() else None,
        load_yaml_file(trust) if trust.exists() else None,
    )


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

    checked = load_policy_data(root)
    catalogue_path, params_path = root / "controls.yaml", root / "params.yaml"
    catalogue, exemptions = checked.catalogue, checked.exemptions

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
    trust_refs = trusted_files(root)
    hash_into(digest, trust_refs)
    return PolicySet(
        root=root,
        modules=modules,
        test_modules=tests,
        data=checked.data,
        catalogue=catalogue,
        exemptions=exemptions,
        revision="sha256:" + digest.hexdigest(),
        files=tuple(p.relative_to(root).as_posix() for p in sorted(hashed)),
        watched=tuple(f.path for f in trust_refs),
    )
