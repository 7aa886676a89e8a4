"""``mlgate gate``: promotion evidence (drift, fairness, metrics, stability) from data files,
decided by the engine's promotion gates (policies/controls/promotion.rego).

The evidence goes into a canonical input (``inputs.promotion_input``) and the engine decides;
only the evidence-based gates (``EVIDENCE_CONTROLS``) are kept, since approvals, canary and
freezes are decided by ``mlgate check`` on the attested manifest. With ``--risk-tier`` every
evidence gate of that tier is judged, and a missing section is a finding, as at admission.
Without it, the tier is undeclared (the policy's strictest parameters) and only the sections
computed are judged.

Exit codes: 0 when no evidence gate denies; 1 when one does (or the policy could not be
evaluated: fail closed); 2 on usage or input errors.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from mlgate.cli.main import EXIT_DENIED, EXIT_OK
from mlgate.decision import Decision, Violation
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
            "intervals, fairness by group and stability across periods. The policy's promotion "
            "gates decide: exit 0 when none denies, 1 when one does, 2 on usage or input errors."
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
        "promotion decision (the policy's promotion gates judge the evidence)"
    )
    decide.add_argument(
        "--risk-tier",
        choices=("high", "limited", "minimal"),
        help="decide promotion for a model of this tier (thresholds from params.yaml); "
        "default: tier undeclared, the strictest parameters, on the sections computed only",
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
    from mlgate.cli.output.gate import render_decision, render_table
    from mlgate.gates.evidence import compute_gate_evidence

    if args.bootstrap < 0:
        raise InputError(
            f"--bootstrap must be >= 0, got {args.bootstrap}", code="gate.bad_bootstrap"
        )
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
    decision = promotion_decision(args, evidence)
    if args.output == "html":
        sys.stdout.write(_html(args, evidence, decision))
    elif args.output == "json":
        if args.risk_tier is None:
            print(text)  # the evidence document, as --out writes it; the exit code decides
        else:
            print(json.dumps({"evidence": evidence, "decision": decision.to_dict()}, indent=2))
    else:
        sys.stdout.write(render_table(evidence))
        sys.stdout.write(render_decision(decision, args.risk_tier, args.environment))
    return EXIT_OK if decision.allowed else EXIT_DENIED


def _html(args: argparse.Namespace, evidence: dict[str, Any], decision: Decision) -> str:
    from mlgate.policyset import default_policy_dir, load_policy_set
    from mlgate.report.gate_html import render_gate_html

    return render_gate_html(
        evidence,
        decision,
        policy_set=load_policy_set(args.policies or default_policy_dir()),
        tier=args.risk_tier,
        environment=args.environment,
        title=f"mlgate promotion gate: {args.model_name}",
    )


# Controls decided by data evidence alone; approvals, canary and freezes are process gates
# that `mlgate check` decides on the attested manifest.
EVIDENCE_CONTROLS = frozenset(
    {"GATE-METRICS", "GATE-DRIFT", "GATE-DRIFT-WARN", "GATE-FAIRNESS", "GATE-STABILITY"}
)


def promotion_decision(args: argparse.Namespace, evidence: dict[str, Any]) -> Decision:
    """The engine's decision on the evidence, restricted to the evidence-based gates (and,
    without a tier, to the sections computed)."""
    from mlgate.decide import could_not_decide
    from mlgate.engine import Engine
    from mlgate.inputs import EVALUATION_SECTIONS, promotion_input
    from mlgate.policyset import default_policy_dir

    doc = promotion_input(
        model_name=args.model_name,
        environment=args.environment,
        risk_tier=args.risk_tier,
        evidence=evidence,
    )
    engine = Engine.from_path(args.policies or default_policy_dir())
    try:
        decision = engine.evaluate(doc)
    finally:
        engine.close()
    # Without a tier only what was computed is judged: "no stability evidence" is not a
    # finding of a drift-only run. mlgate's own fail-closed denials (invalid input, an
    # evaluation error, an unavailable backend, a broken policy set) have no evidence path and
    # are always kept: a gate that could not decide must not pass.
    absent = [
        f"/evidence/{k}"
        for k in EVALUATION_SECTIONS
        if args.risk_tier is None and k not in evidence
    ]

    def judged(v: Violation) -> bool:
        if could_not_decide(v.control):
            return True
        about_absent = any(v.path == p or v.path.startswith(p + "/") for p in absent)
        return v.control in EVIDENCE_CONTROLS and not about_absent

    decision.violations = [v for v in decision.violations if judged(v)]
    decision.warnings = [v for v in decision.warnings if judged(v)]
    decision.audits = [v for v in decision.audits if judged(v)]
    decision.allowed = not decision.violations
    return decision


def _params_path(policies: Path | None) -> Path | None:
    if policies is None:
        from mlgate.policyset import default_policy_dir

        policies = default_policy_dir()
    elif not policies.is_dir():
        raise InputError(
            "policy directory not found", location=str(policies), code="policy.not_found"
        )
    return policies / "params.yaml"
