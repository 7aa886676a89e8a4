"""The peer race: `mlgate check` against gator, conftest and the Kyverno CLI, side by side.

One rule, the same for every tool: a model's `mlgate.io/model-digest` annotation, when
present, is well formed (sha256:<64 hex>), and a model URI that is not content-addressed
(no `@sha256:`) needs that annotation. mlgate's equivalent is its SC-DIGEST-PINNED control,
run alone from a one-control policy set; mlgate also runs the shipped library (every control).

The objects are generated (KServe InferenceServices and Deployments serving a model, half of
them denied), written as multi-document YAML files, and every tool checks the same files.
Each run's verdicts are checked against the generator's: a fast wrong answer is a failure.

Reported per tool and case: wall time (median of --repeat runs), objects/s, and peak RSS
(largest process, from wait4; and the sum over the process tree, sampled every 10 ms).
Output: JSON lines on stdout (one per measurement), optionally --json FILE and a Markdown
table (--markdown) for docs/performance.md.

  python bench/bench_cli.py --objects 5000 --gator BIN --conftest BIN --kyverno BIN
  python bench/bench_cli.py --smoke     # seconds, mlgate only: checks that it all works
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, with_bytecode

REPO = Path(__file__).resolve().parents[1]
PER_FILE = 250
RULE_ID = "SC-DIGEST-PINNED"
MARK = "MLGATE-BENCH-DENY"  # in every peer's message, so denials can be counted
DIGEST_ANNOTATION = "mlgate.io/model-digest"


# --- the objects -------------------------------------------------------------------------


def _hex(i: int) -> str:
    return f"{i:064x}"[-64:]


def make_object(i: int) -> tuple[dict[str, Any], bool]:
    """Object i and whether the rule denies it. Four cases, in turn: pinned by annotation,
    mutable without a digest (deny), malformed digest (deny), content-addressed URI."""
    case = i % 4
    annotations: dict[str, str] = {}
    if case == 0:
        annotations[DIGEST_ANNOTATION] = f"sha256:{_hex(i)}"
    elif case == 2:
        annotations[DIGEST_ANNOTATION] = f"sha256:{_hex(i)[:40]}XYZ"
    uri = (
        f"oci://registry.example/models/m{i}@sha256:{_hex(i)}"
        if case == 3
        else f"s3://models-prod/m{i}/v{i % 7}"
    )
    meta = {"name": f"model-{i}", "namespace": "ml-prod", "annotations": annotations}
    if i % 2 == 0:
        obj = {
            "apiVersion": "serving.kserve.io/v1beta1",
            "kind": "InferenceService",
            "metadata": meta,
            "spec": {"predictor": {"model": {"modelFormat": {"name": "onnx"}, "storageUri": uri}}},
        }
    else:
        obj = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": meta,
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": f"model-{i}"}},
                "template": {
                    "metadata": {"labels": {"app": f"model-{i}"}},
                    "spec": {
                        "containers": [
                            {
                                "name": "server",
                                "image": "vllm/vllm-openai:v0.6.3",
                                "args": ["--model", uri, "--port", "8000"],
                            }
                        ]
                    },
                },
            },
        }
    return obj, case in (1, 2)


def write_objects(out: Path, count: int) -> tuple[list[Path], int]:
    """Multi-document YAML files of PER_FILE objects; returns the files and the denials."""
    out.mkdir(parents=True, exist_ok=True)
    files, denied = [], 0
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    for start in range(0, count, PER_FILE):
        docs = []
        for i in range(start, min(count, start + PER_FILE)):
            obj, deny = make_object(i)
            docs.append(obj)
            denied += deny
        path = out / f"objects-{start // PER_FILE:04d}.yaml"
        path.write_text(yaml.dump_all(docs, Dumper=dumper, sort_keys=False), encoding="utf-8")
        files.append(path)
    return files, denied


# --- the rule, once per tool ---------------------------------------------------------------

# Rego shared by gator (input.review.object) and conftest (input): the object is `obj`.
_REGO_BODY = """
digest_re := `^sha256:[0-9a-f]{64}$`

annotations := object.get(object.get(obj, "metadata", {}), "annotations", {})

has_digest if annotations["mlgate.io/model-digest"]

model_uris contains u if {
	u := obj.spec.predictor.model.storageUri
}

model_uris contains u if {
	some c in obj.spec.template.spec.containers
	some i, word in c.args
	word == "--model"
	u := c.args[i + 1]
}

problems contains msg if {
	d := annotations["mlgate.io/model-digest"]
	not regex.match(digest_re, d)
	msg := sprintf("MARK %s: mlgate.io/model-digest %q is malformed", [obj.metadata.name, d])
}

problems contains msg if {
	not has_digest
	some u in model_uris
	not contains(u, "@sha256:")
	msg := sprintf("MARK %s: mutable model URI %s without mlgate.io/model-digest", [obj.metadata.name, u])
}
""".replace("MARK", MARK)

CONFTEST_POLICY = (
    "package main\n\nimport rego.v1\n\nobj := input\n\n"
    + _REGO_BODY
    + "\ndeny contains msg if some msg in problems\n"
)

GATOR_TEMPLATE = {
    "apiVersion": "templates.gatekeeper.sh/v1",
    "kind": "ConstraintTemplate",
    "metadata": {"name": "mlgatedigestpinned"},
    "spec": {
        "crd": {"spec": {"names": {"kind": "MlgateDigestPinned"}}},
        "targets": [
            {
                "target": "admission.k8s.gatekeeper.sh",
                "code": [
                    {
                        "engine": "Rego",
                        "source": {
                            "version": "v1",
                            "rego": "package mlgatedigestpinned\n\n"
                            "obj := input.review.object\n"
                            + _REGO_BODY
                            + '\nviolation contains {"msg": msg} if some msg in problems\n',
                        },
                    }
                ],
            }
        ],
    },
}

GATOR_CONSTRAINT = {
    "apiVersion": "constraints.gatekeeper.sh/v1beta1",
    "kind": "MlgateDigestPinned",
    "metadata": {"name": "mlgate-digest-pinned"},
    "spec": {
        "match": {
            "kinds": [
                {"apiGroups": ["serving.kserve.io"], "kinds": ["InferenceService"]},
                {"apiGroups": ["apps"], "kinds": ["Deployment"]},
            ]
        }
    },
}

_ANN = "request.object.metadata.annotations.\"mlgate.io/model-digest\" || ''"
KYVERNO_POLICY = {
    "apiVersion": "kyverno.io/v1",
    "kind": "ClusterPolicy",
    "metadata": {"name": "mlgate-digest-pinned"},
    "spec": {
        "validationFailureAction": "Enforce",
        "background": False,
        "rules": [
            {
                "name": "digest-well-formed",
                "match": {"any": [{"resources": {"kinds": ["InferenceService", "Deployment"]}}]},
                "preconditions": {
                    "all": [{"key": "{{ " + _ANN + " }}", "operator": "NotEquals", "value": ""}]
                },
                "validate": {
                    "message": f"{MARK}: mlgate.io/model-digest is malformed",
                    "deny": {
                        "conditions": {
                            "any": [
                                {
                                    "key": "{{ regex_match('^sha256:[0-9a-f]{64}$', "
                                    + _ANN
                                    + ") }}",
                                    "operator": "Equals",
                                    "value": False,
                                }
                            ]
                        }
                    },
                },
            },
            {
                "name": "mutable-uri-needs-digest",
                "match": {"any": [{"resources": {"kinds": ["InferenceService", "Deployment"]}}]},
                "preconditions": {
                    "all": [{"key": "{{ " + _ANN + " }}", "operator": "Equals", "value": ""}]
                },
                "validate": {
                    "message": f"{MARK}: mutable model URI without mlgate.io/model-digest",
                    "deny": {
                        "conditions": {
                            "any": [
                                {
                                    "key": "{{ [request.object.spec.predictor.model.storageUri || '']"
                                    " | [?@ != '' && !contains(@, '@sha256:')] | length(@) }}",
                                    "operator": "GreaterThan",
                                    "value": 0,
                                },
                                {
                                    "key": "{{ request.object.spec.template.spec.containers[].args[]"
                                    " || `[]` | [?starts_with(@, 's3://')] | length(@) }}",
                                    "operator": "GreaterThan",
                                    "value": 0,
                                },
                            ]
                        }
                    },
                },
            },
        ],
    },
}


def single_control_policies(out: Path) -> Path:
    """The shipped policy set cut down to SC-DIGEST-PINNED: its catalogue entry, its Rego
    rules (the same text as policies/controls/supplychain.rego), lib, params and trust."""
    src = REPO / "policies"
    out.mkdir(parents=True, exist_ok=True)
    for name in ("lib.rego", "params.yaml", "trust.yaml"):
        if (src / name).exists():
            shutil.copy(src / name, out / name)
    catalogue = yaml.safe_load((src / "controls.yaml").read_text(encoding="utf-8"))
    catalogue["controls"] = [c for c in catalogue["controls"] if c["id"] == RULE_ID]
    (out / "controls.yaml").write_text(yaml.safe_dump(catalogue, sort_keys=False))
    (out / "exemptions.yaml").write_text(
        "apiVersion: mlgate.io/v1\nkind: Exemptions\nexemptions: []\n"
    )
    source = (src / "controls" / "supplychain.rego").read_text(encoding="utf-8")
    rules = _rules_of(source, RULE_ID)
    helpers = _block(source, "scheme :=") + _block(source, "mutable_reference if")
    (out / "controls").mkdir(exist_ok=True)
    (out / "controls" / "pinned.rego").write_text(
        "package mlgate.controls.supplychain\n\nimport data.mlgate.lib\n\n"
        + "\n".join(rules + helpers)
    )
    (out / "main.rego").write_text(
        "package mlgate.main\n\nimport data.mlgate.controls\nimport data.mlgate.lib\n\n"
        "findings contains f if some f in controls.supplychain.findings\n\n"
        'result := {\n\t"findings": [f | some f in findings],\n'
        '\t"risk_tier": lib.risk_tier,\n\t"environment": lib.environment,\n}\n'
    )
    return out


def _blocks(source: str) -> list[str]:
    """Top-level Rego statements (a block ends at a line that closes it or a blank line)."""
    return [b.strip() + "\n" for b in re.split(r"\n\s*\n", source) if b.strip()]


def _rules_of(source: str, control: str) -> list[str]:
    found = [b for b in _blocks(source) if f'lib.finding("{control}"' in b]
    if not found:
        raise SystemExit(f"bench: no Rego rule for {control} in supplychain.rego")
    return [re.sub(r"^(#.*\n)+", "", b) for b in found]


def _block(source: str, start: str) -> list[str]:
    return [
        re.sub(r"^(#.*\n)+", "", b)
        for b in _blocks(source)
        if re.sub(r"^(#.*\n)+", "", b).startswith(start)
    ]


# --- running and measuring -----------------------------------------------------------------


class TreeRss:
    """Peak memory of a process tree (mlgate's workers count), sampled every 10 ms from
    /proc: each process's own high-water mark (VmHWM, so a peak between samples is not
    missed) and the largest simultaneous sum of RSS over the tree. wait4's ru_maxrss is not
    used: it keeps the RSS the child had as a fork of this benchmark before its exec."""

    def __init__(self, pid: int) -> None:
        self.pid, self._stop = pid, threading.Event()
        self.hwm_kib: dict[int, int] = {}
        self.tree_kib = 0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            total = 0
            for pid in _tree(self.pid):
                hwm, rss = _memory_kib(pid)
                if hwm:
                    self.hwm_kib[pid] = max(self.hwm_kib.get(pid, 0), hwm)
                total += rss
            self.tree_kib = max(self.tree_kib, total)
            if self._stop.wait(0.01):
                return

    def stop(self) -> tuple[int, int]:
        """(largest process peak, tree peak) in KiB."""
        self._stop.set()
        self._thread.join()
        largest = max(self.hwm_kib.values(), default=0)
        return largest, max(self.tree_kib, largest)


def _tree(root: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                parents[int(entry)] = int(f.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
    out = []
    for pid in parents:
        p = pid
        while p and p != root:
            p = parents.get(p, 0)
        if p == root:
            out.append(pid)
    return out


def _memory_kib(pid: int) -> tuple[int, int]:
    hwm = rss = 0
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmHWM:"):
                    hwm = int(line.split()[1])
                elif line.startswith(b"VmRSS:"):
                    rss = int(line.split()[1])
    except (OSError, ValueError):
        pass
    return hwm, rss


@dataclass
class Run:
    wall_s: float
    cpu_s: float  # user + system of the process and the children it waited for
    peak_rss_mib: float
    tree_rss_mib: float
    code: int
    stdout: str
    stderr: str = field(repr=False, default="")


def run_once(cmd: list[str], cwd: Path) -> Run:
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env()
    )
    sampler = TreeRss(proc.pid)
    out_chunks: list[bytes] = []
    err_chunks: list[bytes] = []
    readers = [
        threading.Thread(target=lambda: out_chunks.append(proc.stdout.read())),
        threading.Thread(target=lambda: err_chunks.append(proc.stderr.read())),
    ]
    for t in readers:
        t.start()
    # Reap only after the sampler's last look: an exited child's /proc entry stays until then.
    os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
    wall = time.perf_counter() - start
    largest, tree = sampler.stop()
    _, status, usage = os.wait4(proc.pid, 0)
    for t in readers:
        t.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    return Run(
        wall_s=wall,
        cpu_s=usage.ru_utime + usage.ru_stime,
        peak_rss_mib=largest / 1024,
        tree_rss_mib=tree / 1024,
        code=proc.returncode,
        stdout=b"".join(out_chunks).decode(errors="replace"),
        stderr=b"".join(err_chunks).decode(errors="replace"),
    )


def _env() -> dict[str, str]:
    return with_bytecode(dict(os.environ))


# Each counter returns the number of denied objects a tool reported.
def count_mlgate(run: Run) -> int:
    return int(json.loads(run.stdout)["summary"]["denied"])


def count_marked(run: Run) -> int:
    return len(re.findall(rf"{MARK} model-\d+", run.stdout + run.stderr))


def count_kyverno(run: Run) -> int:
    m = re.search(r"fail:\s*(\d+)", run.stdout)
    if not m:
        raise RuntimeError(f"kyverno: no summary in output: {run.stdout[-400:]!r}")
    return int(m.group(1))


@dataclass
class Case:
    tool: str
    case: str
    cmd: list[str]
    count: Any
    expected: int | None  # denials; None = not checked (the full library denies for more)
    ok_codes: tuple[int, ...] = (0, 1)


def measure(case: Case, objects: int, repeat: int, cwd: Path) -> dict[str, Any]:
    # One run first, not counted: it fills what every later run on a CI runner reuses (the
    # OS file cache; for mlgate its byte code and its content-addressed caches of the
    # compiled policy and the checked policy set).
    run_once(case.cmd, cwd)
    runs = [run_once(case.cmd, cwd) for _ in range(repeat)]
    last = runs[-1]
    record: dict[str, Any] = {
        "bench": "cli",
        "tool": case.tool,
        "case": case.case,
        "objects": objects,
        "repeat": repeat,
        "command": " ".join(case.cmd),
    }
    bad = [r for r in runs if r.code not in case.ok_codes]
    if bad:
        record["error"] = f"exit {bad[0].code}: {(bad[0].stderr or bad[0].stdout)[-600:]}"
        return record
    denied = case.count(last)
    if case.expected is not None and denied != case.expected:
        record["error"] = f"wrong verdicts: {denied} denied, expected {case.expected}"
    walls = [r.wall_s for r in runs]
    record.update(
        wall_s=round(statistics.median(walls), 4),
        wall_min_s=round(min(walls), 4),
        # 3 significant digits: a slow one-object run on a loaded machine is not 0.0/s.
        objects_per_s=float(f"{objects / statistics.median(walls):.3g}"),
        cpu_s=round(statistics.median(r.cpu_s for r in runs), 4),
        peak_rss_mib=round(max(r.peak_rss_mib for r in runs), 1),
        tree_rss_mib=round(max(r.tree_rss_mib for r in runs), 1),
        denied=denied,
        output_bytes=len(last.stdout.encode()),
    )
    return record


def build_cases(
    args: argparse.Namespace, work: Path, files: list[Path], one: list[Path], denied: int
) -> list[tuple[Case, list[Path], int]]:
    mlgate = [sys.executable, "-m", "mlgate.cli.main"]
    single = single_control_policies(work / "policies-single")
    one_denied = int(make_object(0)[1])
    out: list[tuple[Case, list[Path], int]] = []

    def add(tool: str, case: str, cmd_for, count, expect: bool) -> None:
        for paths, n, exp in ((one, 1, one_denied), (files, args.objects, denied)):
            out.append((Case(tool, case, cmd_for(paths), count, exp if expect else None), paths, n))

    add(
        "mlgate",
        "single control",
        lambda p: [*mlgate, "check", "--policies", str(single), "-o", "json", *map(str, p)],
        count_mlgate,
        True,
    )
    add(
        "mlgate",
        "full library",
        lambda p: [*mlgate, "check", "-o", "json", *map(str, p)],
        count_mlgate,
        False,
    )
    if args.gator:
        tdir = work / "gator"
        tdir.mkdir(exist_ok=True)
        (tdir / "template.yaml").write_text(yaml.safe_dump(GATOR_TEMPLATE))
        (tdir / "constraint.yaml").write_text(yaml.safe_dump(GATOR_CONSTRAINT))
        add(
            "gator",
            "single rule",
            lambda p: [args.gator, "test", "-f", str(tdir), *(f"--filename={x}" for x in p)],
            count_marked,
            True,
        )
    if args.conftest:
        cdir = work / "conftest"
        cdir.mkdir(exist_ok=True)
        (cdir / "policy.rego").write_text(CONFTEST_POLICY)
        add(
            "conftest",
            "single rule",
            lambda p: [args.conftest, "test", "--no-color", "-p", str(cdir), *map(str, p)],
            count_marked,
            True,
        )
    if args.kyverno:
        kfile = work / "kyverno-policy.yaml"
        kfile.write_text(yaml.safe_dump(KYVERNO_POLICY))
        add(
            "kyverno",
            "single rule",
            lambda p: [args.kyverno, "apply", str(kfile), *(f"--resource={x}" for x in p)],
            count_kyverno,
            True,
        )
    return out


def markdown(records: list[dict[str, Any]]) -> str:
    by: dict[tuple[str, str], dict[int, dict[str, Any]]] = {}
    for r in records:
        by.setdefault((r["tool"], r["case"]), {})[r["objects"]] = r
    big = max(r["objects"] for r in records)
    lines = [
        f"| tool | case | 1 object (start-up) | {big:,} objects | objects/s | per extra object "
        "| CPU, 1 / all objects | peak RSS (largest process / tree) | output |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for (tool, case), rows in by.items():
        one, many = rows.get(1, {}), rows.get(big, {})
        if "error" in one or "error" in many:
            err = one.get("error") or many.get("error")
            lines.append(f"| {tool} | {case} | failed: {err[:80]} | | | | | | |")
            continue
        extra = (many["wall_s"] - one["wall_s"]) / max(1, big - 1) * 1000
        lines.append(
            f"| {tool} | {case} | {one['wall_s']:.3f} s | {many['wall_s']:.2f} s "
            f"| {many['objects_per_s']:,.0f} | {extra:.2f} ms "
            f"| {one['cpu_s']:.2f} / {many['cpu_s']:.2f} s "
            f"| {many['peak_rss_mib']:.0f} / {many['tree_rss_mib']:.0f} MiB "
            f"| {many['output_bytes'] / 1e6:.1f} MB |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument("--gator", help="gator binary (make peers)")
    parser.add_argument("--conftest", help="conftest binary (make peers)")
    parser.add_argument("--kyverno", help="Kyverno CLI binary (make peers)")
    parser.add_argument("--json", type=Path, help="also write all records to this file")
    parser.add_argument("--markdown", action="store_true", help="print the table to stderr")
    parser.add_argument(
        "--smoke", action="store_true", help="20 objects, one run, mlgate only: does it work?"
    )
    args = parser.parse_args()
    if args.smoke:
        args.objects, args.repeat = 20, 1
        args.gator = args.conftest = args.kyverno = None
    for name in ("gator", "conftest", "kyverno"):
        binary = getattr(args, name)
        if binary and not Path(binary).is_file():
            print(f"bench: {name} binary {binary} not found; skipping it", file=sys.stderr)
            setattr(args, name, None)

    records: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="mlgate-bench-cli-") as tmp:
        work = Path(tmp)
        files, denied = write_objects(work / "objects", args.objects)
        one = [work / "one.yaml"]
        one[0].write_text(yaml.safe_dump(make_object(0)[0], sort_keys=False))
        for case, _paths, n in build_cases(args, work, files, one, denied):
            record = measure(case, n, args.repeat, REPO)
            emit(record)
            records.append(record)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(records, indent=1) + "\n")
    if args.markdown:
        print(markdown(records), file=sys.stderr)
    failed = [r for r in records if "error" in r]
    for r in failed:
        print(f"bench: {r['tool']} {r['case']} ({r['objects']}): {r['error']}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
