"""``mlgate check PATH...``: evaluate model manifests and Kubernetes YAML in CI."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from mlgate.cli.check_pool import PARALLEL_MIN_BYTES, Workers, worker_count
from mlgate.cli.common import add_engine_options, parse_labels
from mlgate.cli.main import EXIT_DENIED, EXIT_OK
from mlgate.cli.output.check import FORMATS, CheckResult, render
from mlgate.cli.skipped import Skipped, skipped_entry
from mlgate.errors import InputError

DATA_SUFFIXES = (".yaml", ".yml", ".json")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "check",
        help="evaluate model manifests and Kubernetes YAML files",
        description=(
            "Evaluate model manifests (mlgate.io/v1 ModelManifest) and Kubernetes objects "
            "(every kind listed by the operator guide, and `kind: List`). Documents that deploy "
            "no model are listed as skipped, with the reason. "
            "Exit 0 if all are allowed, 1 if any is denied, 2 on usage, input or policy errors."
        ),
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="files or directories ('-' = stdin)")
    p.add_argument("--output", "-o", choices=FORMATS, default="table")
    p.add_argument("--environment", help="environment (default: namespace label, else production)")
    p.add_argument(
        "--namespace-label",
        action="append",
        metavar="KEY=VALUE",
        help="labels of the target namespace, as the webhook would see them (repeatable)",
    )
    p.add_argument("--user", default="", help="deploying user, as in the AdmissionReview userInfo")
    p.add_argument("--group", action="append", default=[], help="deploying user's groups")
    p.add_argument("--operation", choices=("CREATE", "UPDATE"), default="CREATE")
    p.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    p.add_argument(
        "--verbose",
        "-v",
        action="store_true",
        help="with --output json: every decision in full (default: what a reader needs, with "
        "each control's title, regulations and fix listed once under 'controls')",
    )
    p.add_argument(
        "--jobs",
        "-j",
        type=int,
        default=0,
        metavar="N",
        help="worker processes for large runs (default 0: one per available core; 1: none)",
    )
    add_engine_options(p)
    p.set_defaults(handler=run)


def _files(paths: list[str]) -> list[Path | None]:
    out: list[Path | None] = []
    for raw in paths:
        if raw == "-":
            out.append(None)
            continue
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix in DATA_SUFFIXES and p.is_file())
            if not found:
                raise InputError("directory holds no .yaml, .yml or .json files", location=raw)
            out += found
        elif path.is_file():
            out.append(path)
        else:
            raise InputError("no such file or directory", location=raw, code="file.not_found")
    return out


def load_documents(path: Path | None) -> list[tuple[Any, int]]:
    """(document, line) pairs; JSON files are one document, YAML may hold several."""
    from mlgate.policyset.yamlfile import load_json_file, load_yaml_stream, read_text

    if path is None:
        text, name = sys.stdin.read(), "<stdin>"
    elif path.suffix == ".json":
        return [(load_json_file(path), 1)]
    else:
        text, name = read_text(path), str(path)
    return load_yaml_stream(text, name)


def _loaded(
    paths: list[Path | None], workers: Workers | None
) -> list[tuple[Path | None, list[tuple[Any, int]]]]:
    files = [p for p in paths if p is not None]  # stdin is read here, by this process
    parsed = dict(zip(files, workers.map(load_documents, files) if workers else [], strict=False))
    return [(p, parsed[p] if p in parsed else load_documents(p)) for p in paths]


def request_info(args: argparse.Namespace) -> Any:
    from mlgate.subjects import RequestInfo

    return RequestInfo(
        operation=args.operation,
        username=args.user,
        groups=tuple(args.group),
        namespace_labels=parse_labels(args.namespace_label, "--namespace-label"),
        source="manifest",
        environment=args.environment,
    )


def _check_document(doc: Any, location: str) -> None:
    if not isinstance(doc, dict) or "kind" not in doc or "apiVersion" not in doc:
        raise InputError(
            "not a Kubernetes object or model manifest (needs apiVersion and kind)",
            location=location,
            code="input.not_an_object",
        )
    if str(doc.get("apiVersion", "")).startswith("mlgate.io/") and doc["kind"] != "ModelManifest":
        raise InputError(
            f"unknown mlgate kind {doc['kind']!r} (expected ModelManifest)",
            location=location,
            code="input.unknown_kind",
        )


def server_catalog(args: argparse.Namespace) -> Any:
    """The model-server images of the policy directory in use (params.yaml model_servers)."""
    from mlgate.policyset import default_policy_dir
    from mlgate.policyset.params import load_params
    from mlgate.subjects import ServerCatalog

    params = (args.policies or default_policy_dir()) / "params.yaml"
    return ServerCatalog.from_params(load_params(params)) if params.exists() else ServerCatalog()


def collect(
    args: argparse.Namespace, workers: Workers | None = None
) -> tuple[list[tuple[str, int, int, Any]], list[Skipped]]:
    """Every (file, index, line, Subject) to evaluate, and every document skipped (why);
    files are parsed by ``workers``."""
    from mlgate.subjects import expand_lists, subject_from_object

    info = request_info(args)
    servers = server_catalog(args)
    subjects = []
    skipped: list[Skipped] = []
    for path, documents in _loaded(_files(args.paths), workers):
        name = str(path) if path else "<stdin>"
        base_dir = path.parent if path else Path.cwd()
        for index, (doc, line) in enumerate(documents):
            if doc is None:
                continue
            _check_document(doc, f"{name}:{line}")
            for item, where in expand_lists(doc):
                location = f"{name}:{line}" + (f":{where}" if where else "")
                _check_document(item, location)
                try:
                    subject = subject_from_object(
                        item, info, where=where, base_dir=base_dir, servers=servers
                    )
                except InputError as err:
                    raise InputError(
                        err.message,
                        location=f"{name}:{line}:{err.location or '/'}",
                        code=err.code,
                    ) from None
                if subject is None:
                    skipped.append(skipped_entry(item, name, index, line, where))
                else:
                    subjects.append((name, index, line, subject))
    return subjects, skipped


def run(args: argparse.Namespace) -> int:
    if args.jobs < 0:
        raise InputError("--jobs must be 0 (one per core) or a positive number")
    size = sum(p.stat().st_size for p in _files(args.paths) if p is not None)
    with Workers(worker_count(args.jobs, size, PARALLEL_MIN_BYTES), args) as workers:
        # Input errors surface before any decision; workers build their engines meanwhile.
        subjects, skipped = collect(args, workers)
        decisions = workers.evaluate([subject for *_, subject in subjects]) if subjects else []
    color = args.color == "always" or (args.color == "auto" and sys.stdout.isatty())
    results = [
        CheckResult(
            file=name, document=index, line=line, kind=subject.kind, name=subject.name, decision=d
        )
        for (name, index, line, subject), d in zip(subjects, decisions, strict=True)
    ]
    print(render(results, args.output, color=color, verbose=args.verbose, skipped=skipped))
    if any(not r.decision.allowed for r in results):
        return EXIT_DENIED
    return EXIT_OK
