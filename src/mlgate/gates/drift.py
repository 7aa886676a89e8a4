"""Data drift between a reference sample and a current sample, feature by feature.

Statistics in numpy; the p-values behind them come from ``scipy.stats`` (see ``pvalues.py``,
the ``mlgate[gates]`` extra).

Per numeric feature
  - **PSI** over ``bins`` bins whose edges are the reference quantiles (numpy's default
    "linear" method); bin i is [edge i-1, edge i). The outer bins are open, so current values
    outside the reference range still land in a bin; edges repeated by ties are merged (fewer
    bins). When ties make the top edge the reference maximum, one more bin starts just above
    it, so that new larger values are not lumped with the maximum (a constant reference column
    thus detects any change). A bin proportion of zero is replaced by ``PSI_EPSILON`` before
    the logarithm: ``PSI = sum((c - r) * ln(c / r))``.
  - **Kolmogorov-Smirnov** two-sample statistic and two-sided p-value with
    ``scipy.stats.ks_2samp(method="auto")`` semantics: the exact distribution when both
    samples have at most ``MAX_EXACT_KS_N`` values, else the one-sample Kolmogorov
    distribution ``scipy.stats.kstwo`` at ``n = round(n1 * n2 / (n1 + n2))``, and its limit
    ``kstwobign`` once ``n`` is past ``MAX_FINITE_KS_N`` (see ``pvalues.py`` for why).
  - **Jensen-Shannon distance** (base ``JS_BASE``) between the binned distributions.
Per categorical feature
  - PSI and JS distance over the categories, and the **chi-square** test of the 2 x k
    contingency table, as ``scipy.stats.chi2_contingency`` computes it (Yates' correction
    only when the table is 2 x 2; categories absent from both samples are dropped).

Decision rules (thresholds: :class:`DriftThresholds`, from ``policies/params.yaml``
``defaults.drift``):
  - ``severity`` is "deny" when PSI >= ``psi_deny``, "warn" when PSI >= ``psi_warn``, else
    "none". PSI is the effect size; the p-values only say whether a difference is real.
  - ``drifted`` is true when the test rejects "same distribution" (KS p < ``ks_pvalue``;
    chi-square p < ``chi2_pvalue``) or the severity is "deny" (a small sample can hide a large
    shift from the test, never from PSI).
  - ``dataset_drift`` is true when ``drift_share`` (drifted / compared features) >=
    ``dataset_drift_share``.

Missing values (NaN, or code -1 for categoricals) are left out of every statistic and counted
per feature. A feature with no values left on either side, or with infinite values, is an
input error.

Memory and speed: features are processed independently (each needs O(rows) scratch), on a
small thread pool because numpy releases the GIL in sort and searchsorted. Each feature costs
two sorts and two searchsorted passes; no rows x features copy is ever made.

Over 400 lines because PSI, the sort-once KS statistic, chi-square and Jensen-Shannon share the
binning and the per-feature loop; each statistic is a small function.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from mlgate.errors import InputError, PolicyError
from mlgate.gates.columns import Categorical, Column
from mlgate.gates.pvalues import KSResult, chi2_pvalue, ks_pvalue

PSI_EPSILON = 1e-4
JS_BASE = 2.0
MAX_WORKERS = 4


# --------------------------------------------------------------------------------------------
# thresholds


@dataclass(frozen=True)
class DriftThresholds:
    """Decision thresholds. The defaults equal ``policies/params.yaml`` ``defaults.drift``."""

    psi_warn: float = 0.1
    psi_deny: float = 0.25
    ks_pvalue: float = 0.05
    chi2_pvalue: float = 0.05
    dataset_drift_share: float = 0.5
    bins: int = 10

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"drift threshold {f.name} must be a number, got {value!r}")
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"drift threshold {f.name} must be finite and >= 0")
        if not isinstance(self.bins, int) or self.bins < 2:
            raise ValueError(f"drift threshold bins must be an integer >= 2, got {self.bins!r}")
        if self.psi_warn > self.psi_deny:
            raise ValueError("drift threshold psi_warn must not exceed psi_deny")
        for name in ("ks_pvalue", "chi2_pvalue", "dataset_drift_share"):
            if getattr(self, name) > 1:
                raise ValueError(f"drift threshold {name} must be within [0, 1]")

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], *, where: str = "") -> DriftThresholds:
        """Defaults overridden by ``values``; unknown keys and bad values are PolicyErrors."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise PolicyError(
                f"unknown drift parameter {unknown[0]!r} (known: {', '.join(sorted(known))})",
                location=where or None,
            )
        try:
            return cls(**dict(values))
        except ValueError as err:
            raise PolicyError(str(err), location=where or None) from None


def load_thresholds(params_path: str | os.PathLike[str] | None) -> DriftThresholds:
    """Thresholds from ``defaults.drift`` of a params.yaml; the defaults when there is no file.
    The file is read by the policy set's one params.yaml reader, so a file the engine would
    refuse (an unknown key, a wrong type) is refused here too, with its ``file:line``."""
    if params_path is None or not Path(params_path).is_file():
        return DriftThresholds()
    from mlgate.policyset.params import read_params_file

    document, lines = read_params_file(Path(params_path))
    drift = document["defaults"].get("drift", {})
    return DriftThresholds.from_mapping(drift, where=lines.where("/defaults/drift"))


# --------------------------------------------------------------------------------------------
# Kolmogorov-Smirnov


def _ks_sorted(ref: np.ndarray, cur: np.ndarray) -> KSResult:
    """KS on two sorted, NaN-free, non-empty samples.

    sup(F1 - F2) is reached at a reference point and sup(F2 - F1) at a current point, and at
    the last of a run of ties the rank is its index + 1, so two searchsorted passes suffice;
    every difference is the same float expression scipy evaluates.
    """
    n1, n2 = ref.shape[0], cur.shape[0]
    below_ref = np.searchsorted(cur, ref, side="right")  # current values <= each ref value
    diff = np.arange(1, n1 + 1) / n1 - below_ref / n2
    max_s = float(diff.max())
    del diff, below_ref
    below_cur = np.searchsorted(ref, cur, side="right")
    diff = below_cur / n1 - np.arange(1, n2 + 1) / n2
    min_s = float(np.clip(-diff.min(), 0, 1))
    d = min_s if min_s > max_s else max_s
    return ks_pvalue(d, ref, cur)


def ks_2samp(reference: np.ndarray, current: np.ndarray) -> KSResult:
    """Two-sample, two-sided KS test of NaN-free samples; ``scipy.stats.ks_2samp`` values."""
    a = np.sort(np.asarray(reference, dtype=np.float64))
    b = np.sort(np.asarray(current, dtype=np.float64))
    if a.size == 0 or b.size == 0:
        raise ValueError("ks_2samp needs two non-empty samples")
    if np.isnan(a[-1]) or np.isnan(b[-1]):  # NaN sorts last
        raise ValueError("ks_2samp: samples contain NaN")
    return _ks_sorted(a, b)


# --------------------------------------------------------------------------------------------
# PSI, JS distance, chi-square on counts


def quantile_edges(sorted_values: np.ndarray, bins: int) -> np.ndarray:
    """Interior PSI bin edges: the reference quantiles at 1/bins .. (bins-1)/bins, deduplicated.

    Equals ``np.quantile(values, q)`` (linear method) but reads the already-sorted sample
    instead of partitioning it again.
    """
    n = sorted_values.shape[0]
    q = np.linspace(0.0, 1.0, bins + 1)[1:-1]
    virtual = (n - 1) * q
    lo = np.floor(virtual).astype(np.intp)
    hi = np.minimum(lo + 1, n - 1)
    gamma = virtual - lo
    a = sorted_values[lo]
    b = sorted_values[hi]
    diff = b - a
    # numpy's _lerp: interpolate from the nearer end for accuracy
    edges = np.where(gamma >= 0.5, b - diff * (1 - gamma), a + diff * gamma)
    return np.unique(edges)


def binned_counts(sorted_values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts per bin (-inf, e0), [e0, e1), ..., [e_last, inf) of a sorted sample."""
    cuts = np.searchsorted(sorted_values, edges, side="left")
    return np.diff(np.concatenate(([0], cuts, [sorted_values.shape[0]])))


def psi(reference_counts: np.ndarray, current_counts: np.ndarray) -> float:
    """Population stability index of two count vectors over the same bins."""
    r = np.asarray(reference_counts, dtype=np.float64)
    c = np.asarray(current_counts, dtype=np.float64)
    r = r / r.sum()
    c = c / c.sum()
    r = np.where(r == 0, PSI_EPSILON, r)
    c = np.where(c == 0, PSI_EPSILON, c)
    return float(np.sum((c - r) * np.log(c / r)))


def js_distance(
    reference_counts: np.ndarray, current_counts: np.ndarray, base: float = JS_BASE
) -> float:
    """Jensen-Shannon distance; ``scipy.spatial.distance.jensenshannon(p, q, base)``."""
    p = np.asarray(reference_counts, dtype=np.float64)
    q = np.asarray(current_counts, dtype=np.float64)
    p = p / np.sum(p)
    q = q / np.sum(q)
    m = (p + q) / 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        left = np.where(p > 0, p * np.log(p / m), 0.0)
        right = np.where(q > 0, q * np.log(q / m), 0.0)
    js = (np.sum(left) + np.sum(right)) / 2.0
    if base is not None:
        js /= np.log(base)
    return float(np.sqrt(max(js, 0.0)))


class Chi2Result(NamedTuple):
    statistic: float
    pvalue: float
    dof: int


def chi2_2xk(reference_counts: np.ndarray, current_counts: np.ndarray) -> Chi2Result:
    """Pearson chi-square test of homogeneity of the 2 x k table, as chi2_contingency does.

    Columns empty in both rows are dropped (scipy rejects zero expected frequencies). Yates'
    continuity correction applies only when one degree of freedom remains (a 2 x 2 table).
    """
    observed = np.vstack(
        [np.asarray(reference_counts, dtype=np.float64), np.asarray(current_counts, np.float64)]
    )
    observed = observed[:, observed.sum(axis=0) > 0]
    k = observed.shape[1]
    dof = k - 1
    if dof <= 0:
        return Chi2Result(0.0, 1.0, 0)
    total = observed.sum()
    expected = observed.sum(axis=1, keepdims=True) * observed.sum(axis=0, keepdims=True) / total
    if dof == 1:
        diff = expected - observed
        direction = np.sign(diff)
        magnitude = np.minimum(0.5, np.abs(diff))
        observed = observed + magnitude * direction
    terms = (observed - expected) ** 2 / expected
    statistic = float(terms.sum())
    return Chi2Result(statistic, chi2_pvalue(statistic, dof), dof)


# --------------------------------------------------------------------------------------------
# per-feature evaluation


def _severity(value: float, thresholds: DriftThresholds) -> str:
    if value >= thresholds.psi_deny:
        return "deny"
    if value >= thresholds.psi_warn:
        return "warn"
    return "none"


def _numeric_feature(
    name: str,
    reference: np.ndarray,
    current: np.ndarray,
    thresholds: DriftThresholds,
    labels: tuple[str, str],
) -> dict[str, Any]:
    sides = []
    for values, label in zip((reference, current), labels, strict=True):
        values = np.asarray(values, dtype=np.float64)
        if values.ndim != 1:
            raise InputError(
                f"feature {name!r}: expected one column of values",
                location=label,
                code="drift.not_one_column",
            )
        ordered = np.sort(values)  # NaN sorts last, so the valid values are a prefix
        valid = ordered.shape[0]
        if valid and np.isnan(ordered[-1]):
            valid = int(np.searchsorted(ordered, np.nan, side="left"))
        if valid == 0:
            raise InputError(
                f"feature {name!r}: no non-missing values", location=label, code="drift.no_values"
            )
        ordered = ordered[:valid]
        if np.isinf(ordered[0]) or np.isinf(ordered[-1]):
            raise InputError(
                f"feature {name!r}: infinite values are not allowed",
                location=label,
                code="data.infinite",
            )
        sides.append((ordered, values.shape[0] - valid))
    (ref, ref_missing), (cur, cur_missing) = sides
    edges = quantile_edges(ref, thresholds.bins)
    if edges[-1] == ref[-1]:
        # The top edge is the reference maximum (ties): give values above it a bin of their own
        # instead of lumping them with the maximum. Below the lowest edge that already holds.
        edges = np.append(edges, np.nextafter(ref[-1], np.inf))
    ref_counts = binned_counts(ref, edges)
    cur_counts = binned_counts(cur, edges)
    ks = _ks_sorted(ref, cur)
    value = psi(ref_counts, cur_counts)
    severity = _severity(value, thresholds)
    drifted = ks.pvalue < thresholds.ks_pvalue or severity == "deny"
    return {
        "kind": "numeric",
        "psi": value,
        "ks_statistic": ks.statistic,
        "ks_pvalue": ks.pvalue,
        "ks_method": ks.method,
        "js_distance": js_distance(ref_counts, cur_counts),
        "drifted": bool(drifted),
        "severity": severity,
        "bins": int(edges.shape[0] + 1),
        "missing_reference": int(ref_missing),
        "missing_current": int(cur_missing),
    }


def _categorical_feature(
    name: str,
    reference: Categorical,
    current: Categorical,
    thresholds: DriftThresholds,
    labels: tuple[str, str],
) -> dict[str, Any]:
    if reference.categories != current.categories:
        raise ValueError(
            f"feature {name!r}: reference and current categories differ; "
            "use columns.align_categories first"
        )
    k = len(reference.categories)
    counts = []
    for column, label in zip((reference, current), labels, strict=True):
        codes = np.asarray(column.codes)
        present = codes[codes >= 0]
        if present.size == 0:
            raise InputError(
                f"feature {name!r}: no non-missing values", location=label, code="drift.no_values"
            )
        counts.append(np.bincount(present, minlength=k))
    ref_counts, cur_counts = counts
    chi = chi2_2xk(ref_counts, cur_counts)
    value = psi(ref_counts, cur_counts)
    severity = _severity(value, thresholds)
    drifted = chi.pvalue < thresholds.chi2_pvalue or severity == "deny"
    return {
        "kind": "categorical",
        "psi": value,
        "chi2_statistic": chi.statistic,
        "chi2_pvalue": chi.pvalue,
        "chi2_dof": chi.dof,
        "js_distance": js_distance(ref_counts, cur_counts),
        "drifted": bool(drifted),
        "severity": severity,
        "categories": int(np.count_nonzero((ref_counts + cur_counts) > 0)),
        "missing_reference": reference.n_missing,
        "missing_current": current.n_missing,
    }


def compute_drift(
    reference: Mapping[str, Column],
    current: Mapping[str, Column],
    *,
    features: Sequence[str] | None = None,
    thresholds: DriftThresholds | None = None,
    n_reference: int | None = None,
    n_current: int | None = None,
    labels: tuple[str, str] = ("reference", "current"),
    max_workers: int | None = None,
) -> dict[str, Any]:
    """The ``drift`` section of the evidence document.

    ``reference``/``current`` map feature names to numeric arrays or to :class:`Categorical`
    columns sharing one coding (see ``columns.align_categories``). ``labels`` name the two
    sides in error messages (the gate passes the file paths).
    """
    thresholds = thresholds or DriftThresholds()
    names = list(features) if features is not None else [n for n in reference if n in current]
    if not names:
        raise InputError("no features to compare for drift", code="drift.no_features")
    for name in names:
        for side, label in ((reference, labels[0]), (current, labels[1])):
            if name not in side:
                raise InputError(
                    f"no feature column {name!r}", location=label, code="data.no_such_column"
                )
        if isinstance(reference[name], Categorical) != isinstance(current[name], Categorical):
            raise InputError(
                f"feature {name!r} is categorical on one side and numeric on the other",
                code="drift.kind_mismatch",
            )

    def evaluate(name: str) -> dict[str, Any]:
        ref, cur = reference[name], current[name]
        if isinstance(ref, Categorical) and isinstance(cur, Categorical):
            return _categorical_feature(name, ref, cur, thresholds, labels)
        return _numeric_feature(name, np.asarray(ref), np.asarray(cur), thresholds, labels)

    workers = max_workers or min(MAX_WORKERS, os.cpu_count() or 1, len(names))
    if workers <= 1:
        results = [evaluate(name) for name in names]
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(evaluate, names))
    per_feature = dict(zip(names, results, strict=True))
    drifted = [name for name in names if per_feature[name]["drifted"]]
    share = len(drifted) / len(names)
    first = next(iter(reference.values()))
    first_cur = next(iter(current.values()))
    return {
        "thresholds": thresholds.to_dict(),
        "features": per_feature,
        "drifted_features": drifted,
        "drift_share": share,
        "dataset_drift": share >= thresholds.dataset_drift_share,
        "max_psi": max(per_feature[name]["psi"] for name in names),
        "n_reference": int(n_reference if n_reference is not None else len(first)),
        "n_current": int(n_current if n_current is not None else len(first_cur)),
    }
