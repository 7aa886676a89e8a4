"""``mlgate gate``: promotion evidence (drift, fairness, metrics, stability) from data files.

Exit codes: 0 when the evidence is computed and shows no deny-level breach; 1 when it does (a
feature at drift severity "deny", dataset drift, or a failed four-fifths rule); 2 on usage or
input errors.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from mlgate.cli.main import EXIT_DENIED, EXIT_OK
from mlgate.errors import InputError


def _names(value: str) -> list[str]:
    names = [part.strip() for part in value.split(",")]
    if not value.strip() or any(not name for name in names):
        raise argparse.ArgumentTypeError(f"expected comma-separated column names, got {value!r}")
    return names


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "gate",
        help="compute promotion evidence (drift, fairness, metrics) from data files",
        description=(
            "Compute promotion-gate evidence from CSV, .npy, .npz or Parquet files: drift of "
            "the current data against a reference (PSI, Kolmogorov-Smirnov, chi-square, "
            "Jensen-Shannon), and on the current data metrics with bootstrap confidence "
            "intervals, fairness by group and stability across periods. Exit 0 when nothing is "
            "at deny level, 1 on drift at deny severity, dataset drift or a failed four-fifths "
            "rule, 2 on usage or input errors."
        ),
    )
    data = p.add_argument_group("data")
    data.add_argument("--reference", type=Path, metavar="FILE", help="reference data (drift)")
    data.add_argument("--current", type=Path, metavar="FILE", required=True, help="current data")
    data.add_argument(
        "--features",
        type=_names,
        metavar="A,B",
        help="drift features (default: columns in both files except label/prediction/score/"
        "group/period)",
    )
    data.add_argument(
        "--categorical", type=_names, default=[], metavar="A,B", help="categorical features"
    )
    data.add_argument(
        "--columns",
        type=_names,
        metavar="A,B",
        help="column names of plain 2-D .npy files (default: FILE's .columns.txt sidecar, "
        "else f0,f1,...)",
    )
    model = p.add_argument_group("model outputs (on the current data)")
    model.add_argument("--label", metavar="COL", help="true 0/1 label column")
    model.add_argument(
        "--prediction", metavar="COL", help="predicted 0/1 column (probabilities are thresholded)"
    )
    model.add_argument("--score", metavar="COL", help="score/probability column for AUC")
    model.add_argument("--group", metavar="COL", help="group column for fairness")
    model.add_argument("--period", metavar="COL", help="period column for stability")
    tuning = p.add_argument_group("statistics")
    tuning.add_argument(
        "--bootstrap", type=int, default=1000, metavar="N", help="resamples (0: no CIs)"
    )
    tuning.add_argument("--seed", type=int, default=0, metavar="N", help="bootstrap seed")
    tuning.add_argument("--confidence", type=float, default=0.95, help="CI level (default 0.95)")
    tuning.add_argument("--threshold", type=float, default=0.5, help="score threshold (0.5)")
    tuning.add_argument("--min-group-size", type=int, default=30, metavar="N", help="default 30")
    tuning.add_argument(
        "--tolerance",
        type=float,
        help="stability: largest allowed metric drop (default: params.yaml "
        "defaults.stability.max_metric_drop, else 0.02)",
    )
    tuning.add_argument(
        "--policies",
        type=Path,
        metavar="DIR",
        help="policy directory whose params.yaml sets the drift thresholds (defaults.drift) "
        "and the stability tolerance (default: $MLGATE_POLICIES or the shipped policies/)",
    )
    decide = p.add_argument_group(
        "promotion decision (evaluates the evidence with the shipped Rego promotion gates)"
    )
    decide.add_argument(
        "--risk-tier",
        choices=("high", "limited", "minimal"),
        help="decide promotion for a model of this tier (thresholds from params.yaml)",
    )
    decide.add_argument(
        "--environment", default="production", help="target environment (default production)"
    )
    decide.add_argument("--model-name", default="model", help="model name in the decision")
    out = p.add_argument_group("output")
    out.add_argument(
        "--output",
        "-o",
        choices=("table", "json", "html"),
        default="table",
        help="html: a self-contained page with the compliance report's evidence charts",
    )
    out.add_argument("--out", type=Path, metavar="FILE", help="also write the JSON evidence here")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from mlgate.gates.evidence import compute_gate_evidence, gate_breaches

    if args.bootstrap < 0:
        raise InputError(f"--bootstrap must be >= 0, got {args.bootstrap}")
    if args.min_group_size < 1:
        raise InputError(f"--min-group-size must be >= 1, got {args.min_group_size}")
    if not 0 < args.confidence < 1:
        raise InputError(f"--confidence must be between 0 and 1, got {args.confidence}")
    if args.tolerance is not None and not args.tolerance >= 0:
        raise InputError(f"--tolerance must be >= 0, got {args.tolerance}")
    evidence = compute_gate_evidence(
        current=args.current,
        reference=args.reference,
        features=args.features,
        categorical=args.categorical,
        label=args.label,
        prediction=args.prediction,
        score=args.score,
        group=args.group,
        period=args.period,
        columns=args.columns,
        params_path=_params_path(args.policies),
        min_group_size=args.min_group_size,
        n_bootstrap=args.bootstrap,
        confidence=args.confidence,
        seed=args.seed,
        tolerance=args.tolerance,
        threshold=args.threshold,
    )
    text = json.dumps(evidence, indent=2, allow_nan=False)
    if args.out is not None:
        try:
            args.out.write_text(text + "\n", encoding="utf-8")
        except OSError as err:
            raise InputError(
                f"cannot write evidence: {err.strerror}", location=str(args.out)
            ) from None
    breaches = gate_breaches(evidence)
    decision = None if args.risk_tier is None else promotion_decision(args, evidence)
    if args.output == "html":
        sys.stdout.write(_html(args, evidence, breaches, decision))
    elif args.output == "json":
        if decision is None:
            print(text)
        else:
            print(json.dumps({"evidence": evidence, "decision": decision.to_dict()}, indent=2))
    else:
        sys.stdout.write(render_table(evidence, breaches))
        if decision is not None:
            sys.stdout.write(render_decision(decision, args))
    if decision is not None:
        return EXIT_OK if decision.allowed else EXIT_DENIED
    return EXIT_DENIED if breaches else EXIT_OK


def _html(
    args: argparse.Namespace, evidence: dict[str, Any], breaches: list[str], decision: Any
) -> str:
    from mlgate.policyset import default_policy_dir, load_policy_set
    from mlgate.report.gate_html import render_gate_html

    return render_gate_html(
        evidence,
        breaches,
        decision=decision,
        policy_set=load_policy_set(args.policies or default_policy_dir()),
        tier=args.risk_tier or "high",
        environment=args.environment,
        title=f"mlgate promotion gate: {args.model_name}",
    )


# Controls decided by data evidence alone; approvals, canary and freezes are process gates
# that `mlgate check` decides on the attested manifest.
EVIDENCE_CONTROLS = frozenset(
    {"GATE-METRICS", "GATE-DRIFT", "GATE-DRIFT-WARN", "GATE-FAIRNESS", "GATE-STABILITY"}
)


def promotion_decision(args: argparse.Namespace, evidence: dict[str, Any]) -> Any:
    """The engine's decision on the evidence, restricted to the evidence-based gates."""
    from mlgate.decide import EVAL_ERROR_CONTROL
    from mlgate.engine import Engine
    from mlgate.policyset import default_policy_dir
    from mlgate.timeutil import now_ns

    absent = {"present": False, "verified": False, "trusted": False}
    doc = {
        "source": "manifest",
        "request": {
            "operation": "CREATE",
            "kind": "ModelManifest",
            "name": args.model_name,
            "namespace": "",
            "user": {"username": "", "groups": []},
        },
        "context": {"environment": args.environment, "now_ns": now_ns()},
        "model": {"name": args.model_name, "uri": ""},
        "card": {"governance": {"risk_tier": args.risk_tier}},
        "card_source": "declared",
        "signature": dict(absent),
        "attestation": dict(absent),
        "evidence": {
            k: evidence[k] for k in ("metrics", "drift", "fairness", "stability") if k in evidence
        },
    }
    engine = Engine.from_path(args.policies or default_policy_dir())
    try:
        decision = engine.evaluate(doc)
    finally:
        engine.close()
    keep = EVIDENCE_CONTROLS | {EVAL_ERROR_CONTROL}
    decision.violations = [v for v in decision.violations if v.control in keep]
    decision.warnings = [v for v in decision.warnings if v.control in keep]
    decision.audits = [v for v in decision.audits if v.control in keep]
    decision.allowed = not decision.violations
    return decision


def render_decision(decision: Any, args: argparse.Namespace) -> str:
    verdict = "PROMOTION ALLOWED" if decision.allowed else "PROMOTION DENIED"
    lines = [f"\n{verdict}: {args.risk_tier}-risk model to {args.environment}"]
    for v in decision.violations:
        lines.append(f"  x {v.control} [{v.severity}] {v.message}")
        lines.append(f"      regulation: {', '.join(v.regulations)}")
        lines.append(f"      fix: {v.remediation}")
    lines += [f"  ! {v.control} (warn) {v.message}" for v in decision.warnings]
    if decision.allowed and not decision.warnings:
        lines.append("  every evidence-based promotion gate passes")
    return "\n".join(lines) + "\n"


def _params_path(policies: Path | None) -> Path | None:
    if policies is None:
        from mlgate.policyset import default_policy_dir

        policies = default_policy_dir()
    elif not policies.is_dir():
        raise InputError("policy directory not found", location=str(policies))
    return policies / "params.yaml"


# --------------------------------------------------------------------------------------------
# table rendering


def _num(value: Any, spec: str = ".3f") -> str:
    return "-" if value is None else format(value, spec)


def _grid(headers: list[str], rows: list[list[str]], indent: str = "  ") -> list[str]:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    lines = [indent + "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    for row in rows:
        lines.append(
            indent + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        )
    return lines


def render_table(evidence: dict[str, Any], breaches: list[str]) -> str:
    """A readable summary of the evidence, naming drifting features with their statistics."""
    lines: list[str] = []
    inputs = evidence.get("inputs", {})
    drift = evidence.get("drift")
    if drift:
        t = drift["thresholds"]
        lines.append(
            f"Drift: {inputs.get('reference')} ({drift['n_reference']} rows) -> "
            f"{inputs.get('current')} ({drift['n_current']} rows)"
        )
        lines.append(
            f"  thresholds: PSI warn >= {t['psi_warn']:g}, deny >= {t['psi_deny']:g}; "
            f"KS p < {t['ks_pvalue']:g}; chi2 p < {t['chi2_pvalue']:g}; "
            f"dataset drift share >= {t['dataset_drift_share']:g}"
        )
        rows = []
        for name, f in drift["features"].items():
            numeric = f["kind"] == "numeric"
            rows.append(
                [
                    name,
                    f["kind"],
                    _num(f["psi"], ".4f"),
                    ("KS " if numeric else "chi2 ")
                    + _num(f["ks_statistic"] if numeric else f["chi2_statistic"], ".4g"),
                    _num(f["ks_pvalue"] if numeric else f["chi2_pvalue"], ".3g"),
                    _num(f["js_distance"], ".4f"),
                    f["severity"],
                    "yes" if f["drifted"] else "no",
                ]
            )
        lines += _grid(
            ["FEATURE", "KIND", "PSI", "STATISTIC", "P-VALUE", "JS", "SEVERITY", "DRIFTED"], rows
        )
        drifted = drift["drifted_features"]
        lines.append(
            f"  drifted: {', '.join(drifted) if drifted else 'none'} "
            f"({len(drifted)} of {len(drift['features'])}, {drift['drift_share']:.0%}); "
            f"dataset drift: {'yes' if drift['dataset_drift'] else 'no'}; "
            f"max PSI {drift['max_psi']:.4f}"
        )
        lines.append("")
    metrics = evidence.get("metrics")
    if metrics:
        settings = evidence.get("settings", {})
        n = next(iter(metrics.values()))["n"]
        lines.append(
            f"Metrics on {inputs.get('current')} (n={n}; {settings.get('confidence', 0.95):.0%} "
            f"bootstrap CI, {settings.get('bootstrap')} resamples, seed {settings.get('seed')})"
        )
        rows = [
            [
                name,
                _num(m["value"], ".4f"),
                f"[{_num(m['ci_low'], '.4f')}, {_num(m['ci_high'], '.4f')}]",
            ]
            for name, m in metrics.items()
        ]
        lines += _grid(["METRIC", "VALUE", "CI"], rows)
        lines.append("")
    fairness = evidence.get("fairness")
    if fairness:
        lines.append(
            f"Fairness by {fairness['group_column']!r} (min group size "
            f"{fairness['min_group_size']})"
        )
        rows = [
            [
                name + (" (small)" if g["small"] else ""),
                str(g["n"]),
                _num(g["selection_rate"]),
                _num(g["tpr"]),
                _num(g["fpr"]),
                _num(g["accuracy"]),
            ]
            for name, g in fairness["groups"].items()
        ]
        lines += _grid(["GROUP", "N", "SELECTION", "TPR", "FPR", "ACCURACY"], rows)
        rule = fairness["four_fifths_rule"]
        lines.append(
            f"  demographic parity: difference {_num(fairness['demographic_parity_difference'])}, "
            f"ratio {_num(fairness['demographic_parity_ratio'])} (four-fifths rule: "
            f"{'-' if rule is None else 'pass' if rule else 'FAIL'}); equal opportunity "
            f"difference {_num(fairness['equal_opportunity_difference'])}"
        )
        lines += [f"  note: {note}" for note in fairness["notes"]]
        lines.append("")
    stability = evidence.get("stability")
    if stability:
        stable = stability["stable"]
        lines.append(
            f"Stability by {stability['period_column']!r} (tolerance {stability['tolerance']:g}): "
            f"{'-' if stable is None else 'stable' if stable else 'UNSTABLE'}"
        )
        names = [m for m in stability["max_drop"]]
        rows = [
            [period, str(stability["period_sizes"][period])]
            + [_num(values.get(m), ".4f") for m in names]
            for period, values in stability["periods"].items()
        ]
        rows.append(["max drop", ""] + [_num(stability["max_drop"][m], ".4f") for m in names])
        lines += _grid(["PERIOD", "N", *(m.upper() for m in names)], rows)
        lines += [f"  note: {note}" for note in stability["notes"]]
        lines.append("")
    for note in evidence.get("notes", []):
        lines.append(f"note: {note}")
    if evidence.get("notes"):
        lines.append("")
    if breaches:
        lines.append("Result: DENY")
        lines += [f"  - {b}" for b in breaches]
    else:
        lines.append("Result: PASS (no deny-level finding in the evidence)")
    return "\n".join(lines) + "\n"
