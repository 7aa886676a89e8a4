"""``mlgate check PATH...``: evaluate model manifests and Kubernetes YAML in CI."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from mlgate.cli.check_pool import PARALLEL_MIN_BYTES, Workers, worker_count
from mlgate.cli.common import add_engine_options, parse_labels
from mlgate.cli.main import EXIT_DENIED, EXIT_ERROR, EXIT_OK
from mlgate.cli.output import FORMATS, CheckResult, render
from mlgate.errors import InputError

DATA_SUFFIXES = (".yaml", ".yml", ".json")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "check",
        help="evaluate model manifests and Kubernetes YAML files",
        description=(
            "Evaluate model manifests (mlgate.io/v1 ModelManifest) and Kubernetes objects "
            "(InferenceService, Seldon Model, Deployment, StatefulSet, Job, Pod). "
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
            raise InputError("no such file or directory", location=raw)
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


def collect(
    args: argparse.Namespace, workers: Workers | None = None
) -> list[tuple[str, int, int, Any]]:
    """Every (file, index, line, Subject) to evaluate; files are parsed by ``workers``."""
    from mlgate.subjects import RequestInfo, subject_from_object, supported_kinds

    info = RequestInfo(
        operation=args.operation,
        username=args.user,
        groups=tuple(args.group),
        namespace_labels=parse_labels(args.namespace_label, "--namespace-label"),
        source="manifest",
        environment=args.environment,
    )
    subjects = []
    skipped = 0
    for path, documents in _loaded(_files(args.paths), workers):
        name = str(path) if path else "<stdin>"
        for index, (doc, line) in enumerate(documents):
            if doc is None:
                continue
            if not isinstance(doc, dict) or "kind" not in doc or "apiVersion" not in doc:
                raise InputError(
                    "not a Kubernetes object or model manifest (needs apiVersion and kind)",
                    location=f"{name}:{line}",
                )
            if (
                str(doc.get("apiVersion", "")).startswith("mlgate.io/")
                and doc["kind"] != "ModelManifest"
            ):
                raise InputError(
                    f"unknown mlgate kind {doc['kind']!r} (expected ModelManifest)",
                    location=f"{name}:{line}",
                )
            base_dir = path.parent if path else Path.cwd()
            try:
                subject = subject_from_object(doc, info, where="", base_dir=base_dir)
            except InputError as err:
                raise InputError(
                    err.message, location=f"{name}:{line}:{err.location or '/'}"
                ) from None
            if subject is None:
                skipped += 1
                continue
            subjects.append((name, index, line, subject))
    if not subjects:
        raise InputError(
            f"no model-bearing objects found ({skipped} other object(s) skipped); "
            f"supported kinds: {', '.join(supported_kinds())}"
        )
    return subjects


def run(args: argparse.Namespace) -> int:
    if args.jobs < 0:
        raise InputError("--jobs must be 0 (one per core) or a positive number")
    size = sum(p.stat().st_size for p in _files(args.paths) if p is not None)
    with Workers(worker_count(args.jobs, size, PARALLEL_MIN_BYTES), args) as workers:
        # Input errors surface before any decision; workers build their engines meanwhile.
        subjects = collect(args, workers)
        decisions = workers.evaluate([subject for *_, subject in subjects])
    results = [
        CheckResult(
            file=name, document=index, line=line, kind=subject.kind, name=subject.name, decision=d
        )
        for (name, index, line, subject), d in zip(subjects, decisions, strict=True)
    ]
    color = args.color == "always" or (args.color == "auto" and sys.stdout.isatty())
    print(render(results, args.output, color=color, verbose=args.verbose))
    if any(not r.decision.allowed for r in results):
        return EXIT_DENIED
    return EXIT_OK if results else EXIT_ERROR
