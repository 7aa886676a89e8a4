"""Drift statistics against scipy (the reference implementation; a test-only dependency).

Tolerance: KS statistics must be identical; p-values, chi-square and JS values agree within
1e-9 relative (or 1e-12 absolute for values near zero). The p-values come from scipy.stats
(``mlgate.gates.pvalues``); the statistics are mlgate's own numpy code."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from error_codes import line_of, problem_codes, raises_code
from mlgate.errors import InputError, MlgateError, PolicyError
from mlgate.gates import pvalues
from mlgate.gates.columns import Categorical, encode_categorical
from mlgate.gates.drift import (
    PSI_EPSILON,
    DriftThresholds,
    chi2_2xk,
    compute_drift,
    js_distance,
    ks_2samp,
    load_thresholds,
    psi,
    quantile_edges,
)

REPO = Path(__file__).resolve().parents[1]
REPO_POLICIES = REPO / "policies"


def close(actual: float, expected: float, rel: float = 1e-9, abs_: float = 1e-12) -> bool:
    return math.isclose(actual, expected, rel_tol=rel, abs_tol=abs_)


# ---- Kolmogorov-Smirnov ----------------------------------------------------------------------

KS_CASES = [
    # (n1, n2, shift, ties) -> exact square, exact band, asymptotic
    (1, 1, 0.0, False),
    (1, 7, 0.0, False),
    (5, 3, 1.0, False),
    (40, 40, 0.3, False),
    (40, 40, 0.0, True),
    (300, 299, 0.2, False),
    (250, 400, 0.0, True),
    (2000, 1500, 0.05, False),
    (2000, 2000, 0.5, False),
    (10_000, 9_000, 0.05, False),
    (12_000, 60, 0.3, False),  # asymptotic, small effective n (DMTW/Pomeranz/smirnov)
    (15_000, 11_000, 0.02, False),
    (20_000, 20_000, 0.0, True),
    (30_000, 25_000, 0.5, False),  # asymptotic, astronomically small p
]


@pytest.mark.parametrize(("n1", "n2", "shift", "ties"), KS_CASES)
def test_ks_matches_scipy(n1: int, n2: int, shift: float, ties: bool) -> None:
    rng = np.random.default_rng(n1 * 31 + n2)
    a = rng.normal(size=n1)
    b = rng.normal(shift, 1.0, size=n2)
    if ties:
        a, b = np.round(a * 2), np.round(b * 2)
    expected = stats.ks_2samp(a, b)  # method="auto"
    got = ks_2samp(a, b)
    assert got.statistic == expected.statistic
    effective_n = n1 * n2 / (n1 + n2)
    if max(n1, n2) <= 10_000:
        assert got.method == "exact"
    else:
        assert got.method == ("asymp" if effective_n <= pvalues.MAX_FINITE_KS_N else "limit")
    if got.method == "limit":  # Smirnov's limit: within 1.2e-3 of the finite-n distribution
        assert math.isclose(got.pvalue, float(expected.pvalue), abs_tol=1.2e-3)
    else:
        assert close(got.pvalue, float(expected.pvalue)), (got, expected.pvalue)


def test_ks_identical_and_disjoint_samples() -> None:
    a = np.arange(50.0)
    same = ks_2samp(a, a.copy())
    assert same.statistic == 0.0 and same.pvalue == 1.0
    apart = ks_2samp(a, a + 1000)
    assert apart.statistic == 1.0
    assert close(apart.pvalue, float(stats.ks_2samp(a, a + 1000).pvalue))
    with pytest.raises(ValueError):
        ks_2samp(np.array([]), a)
    with pytest.raises(ValueError):
        ks_2samp(np.array([1.0, np.nan]), a)


def test_pvalues_come_from_scipy_and_degenerate_tables_are_no_evidence() -> None:
    assert close(pvalues.chi2_pvalue(7.5, 3), float(stats.chi2.sf(7.5, 3)))
    assert pvalues.chi2_pvalue(0.0, 3) == 1.0
    assert pvalues.chi2_pvalue(12.0, 0) == 1.0


def test_large_samples_use_the_limiting_kolmogorov_distribution() -> None:
    rng = np.random.default_rng(7)
    a, b = rng.normal(size=40_000), rng.normal(0.01, 1, size=30_000)
    got = ks_2samp(a, b)
    effective_n = 40_000 * 30_000 / 70_000
    assert got.method == "limit"
    assert close(got.pvalue, float(stats.kstwobign.sf(got.statistic * math.sqrt(effective_n))))


def test_without_scipy_the_gate_extra_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "scipy", None)  # what an install without the extra sees
    with pytest.raises(pvalues.GatesExtraMissing) as err:
        pvalues.chi2_pvalue(3.0, 2)
    assert err.value.code == "gates_extra_missing"
    assert "mlgate[gates]" in err.value.message  # the hint is the point: which extra to install
    # PSI needs no scipy: the webhook image and PSI-only callers keep working
    assert psi(np.array([5, 5]), np.array([5, 5])) == 0.0


@pytest.mark.parametrize(
    ("ref", "cur"),
    [
        ([30, 70], [45, 55]),  # 2 x 2: Yates' correction
        ([5, 0], [3, 2]),  # 2 x 2 with a zero cell
        ([10, 20, 30], [12, 25, 18]),
        ([100, 0, 50, 3], [90, 0, 60, 9]),  # an empty category is dropped
        ([1000, 2000, 3000, 400, 7], [1100, 1900, 2800, 600, 30]),
    ],
)
def test_chi2_2xk_matches_chi2_contingency(ref: list[int], cur: list[int]) -> None:
    table = np.array([ref, cur])
    table = table[:, table.sum(axis=0) > 0]
    expected = stats.chi2_contingency(table)
    got = chi2_2xk(np.array(ref), np.array(cur))
    assert got.dof == expected.dof
    assert close(got.statistic, float(expected.statistic))
    assert close(got.pvalue, float(expected.pvalue))


def test_chi2_single_category_is_no_evidence() -> None:
    assert chi2_2xk(np.array([10, 0]), np.array([4, 0])) == (0.0, 1.0, 0)


# ---- PSI and Jensen-Shannon ----------------------------------------------------------------


def test_psi_by_hand_and_epsilon_for_empty_bins() -> None:
    r = np.array([50, 50])
    c = np.array([25, 75])
    expected = (0.25 - 0.5) * math.log(0.25 / 0.5) + (0.75 - 0.5) * math.log(0.75 / 0.5)
    assert psi(r, c) == pytest.approx(expected, rel=1e-12)
    assert psi(r, r) == 0.0
    # an empty current bin counts as PSI_EPSILON, not zero (which would be infinite)
    with_empty = (PSI_EPSILON - 0.5) * math.log(PSI_EPSILON / 0.5) + 0.5 * math.log(2)
    assert psi(r, np.array([0, 10])) == pytest.approx(with_empty, rel=1e-12)


@pytest.mark.parametrize("base", [2.0, math.e])
def test_js_distance_matches_scipy(base: float) -> None:
    rng = np.random.default_rng(7)
    for _ in range(20):
        p = rng.integers(0, 50, size=8)
        q = rng.integers(0, 50, size=8)
        p[0] = q[1] = 0  # zero bins on either side
        assert close(js_distance(p, q, base), float(jensenshannon(p, q, base=base)))
    assert js_distance(np.array([1, 0]), np.array([0, 1])) == pytest.approx(1.0)  # base 2: max 1


def test_quantile_edges_equal_numpy_quantile() -> None:
    rng = np.random.default_rng(3)
    for n in (1, 2, 9, 10, 11, 1001):
        values = np.sort(rng.normal(size=n))
        expected = np.unique(np.quantile(values, np.linspace(0, 1, 11)[1:-1]))
        np.testing.assert_array_equal(quantile_edges(values, 10), expected)
    discrete = np.sort(rng.integers(0, 3, size=500).astype(float))
    assert quantile_edges(discrete, 10).size <= 3  # ties merge bins


def reference_psi(ref: np.ndarray, cur: np.ndarray, bins: int = 10) -> float:
    """An independent per-feature PSI: np.quantile edges, np.digitize, epsilon floor."""
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)[1:-1]))
    r = np.bincount(np.digitize(ref, edges), minlength=edges.size + 1) / ref.size
    c = np.bincount(np.digitize(cur, edges), minlength=edges.size + 1) / cur.size
    r = np.where(r == 0, PSI_EPSILON, r)
    c = np.where(c == 0, PSI_EPSILON, c)
    return float(np.sum((c - r) * np.log(c / r)))


# ---- dataset drift ---------------------------------------------------------------------------


def make_data(n: int = 3000, seed: int = 0) -> tuple[dict, dict]:
    rng = np.random.default_rng(seed)
    ref = {
        "stable": rng.normal(size=n),
        "shifted": rng.normal(size=n),
        "slight": rng.normal(size=n),
    }
    cur = {
        "stable": rng.normal(size=n),
        "shifted": rng.normal(1.0, 1.0, size=n),
        "slight": rng.normal(0.2, 1.0, size=n),
    }
    region_ref, region_cur = encode_categorical(
        rng.choice(["n", "s", "e"], n, p=[0.5, 0.3, 0.2]),
        rng.choice(["n", "s", "e", "w"], n, p=[0.2, 0.3, 0.2, 0.3]),
    )
    ref["region"], cur["region"] = region_ref, region_cur
    return ref, cur


def test_compute_drift_per_feature_values_and_decisions() -> None:
    ref, cur = make_data()
    result = compute_drift(ref, cur)
    features = result["features"]
    for name in ("stable", "shifted", "slight"):
        f = features[name]
        expected = stats.ks_2samp(ref[name], cur[name])
        assert f["kind"] == "numeric"
        assert f["ks_statistic"] == expected.statistic
        assert close(f["ks_pvalue"], float(expected.pvalue))
        assert f["psi"] == pytest.approx(reference_psi(ref[name], cur[name]), rel=1e-12)
    assert features["stable"]["severity"] == "none" and not features["stable"]["drifted"]
    assert features["shifted"]["severity"] == "deny" and features["shifted"]["drifted"]
    # a 0.2 sd shift: PSI below the warn level, yet clearly significant with 3000 rows
    assert features["slight"]["psi"] < 0.1 and features["slight"]["severity"] == "none"
    assert features["slight"]["drifted"]
    region = features["region"]
    table = np.array(
        [
            np.bincount(ref["region"].codes, minlength=4),
            np.bincount(cur["region"].codes, minlength=4),
        ]
    )
    expected = stats.chi2_contingency(table)
    assert region["kind"] == "categorical" and region["categories"] == 4
    assert close(region["chi2_statistic"], float(expected.statistic))
    assert close(region["chi2_pvalue"], float(expected.pvalue))
    assert close(region["js_distance"], float(jensenshannon(table[0], table[1], base=2)))
    assert region["severity"] == "deny"  # a brand-new category holding 30% of the rows
    assert result["drifted_features"] == ["shifted", "slight", "region"]
    assert result["drift_share"] == 0.75 and result["dataset_drift"] is True
    assert result["max_psi"] == max(f["psi"] for f in features.values())
    assert result["n_reference"] == result["n_current"] == 3000
    assert result["thresholds"] == DriftThresholds().to_dict()


def test_severity_thresholds_and_dataset_share_are_configurable() -> None:
    ref, cur = make_data()
    strict = DriftThresholds(psi_warn=0.02, psi_deny=0.04)
    features = compute_drift(ref, cur, thresholds=strict)["features"]
    assert features["slight"]["severity"] == "deny"  # PSI ~0.042
    assert features["stable"]["severity"] == "none"  # PSI ~0.011
    lenient = DriftThresholds(
        psi_warn=0.5, psi_deny=2.0, ks_pvalue=1e-100, chi2_pvalue=1e-300, dataset_drift_share=0.6
    )
    result = compute_drift(ref, cur, thresholds=lenient)
    # shifted: KS p ~1e-192 < 1e-100, PSI ~0.9 (warn); region: chi2 p ~1e-261 is not below
    # 1e-300, but its PSI ~2.5 reaches psi_deny; slight: p ~3e-9 and PSI ~0.04 pass.
    assert result["drifted_features"] == ["shifted", "region"]
    assert result["features"]["shifted"]["severity"] == "warn"
    assert result["features"]["region"]["severity"] == "deny"
    assert result["drift_share"] == 0.5 and result["dataset_drift"] is False  # 0.5 < 0.6


def test_small_sample_large_shift_is_drifted_by_psi_alone() -> None:
    ref = {"x": np.array([0.0, 1, 2, 3, 4, 5, 6, 7])}
    cur = {"x": np.array([4.0, 5, 6, 7, 8])}
    f = compute_drift(ref, cur)["features"]["x"]
    assert f["ks_pvalue"] >= 0.05  # too few rows for the test
    assert f["severity"] == "deny" and f["drifted"] is True


def test_missing_values_are_skipped_and_counted() -> None:
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=500), rng.normal(0.3, 1, size=400)
    holes_a, holes_b = a.copy(), b.copy()
    holes_a[::10] = np.nan
    holes_b[::7] = np.nan
    clean = compute_drift({"x": a[~np.isnan(holes_a)]}, {"x": b[~np.isnan(holes_b)]})
    gappy = compute_drift({"x": holes_a}, {"x": holes_b})["features"]["x"]
    for key in ("psi", "ks_statistic", "ks_pvalue", "js_distance"):
        assert gappy[key] == clean["features"]["x"][key]
    assert gappy["missing_reference"] == 50 and gappy["missing_current"] == 58
    cat_ref, cat_cur = encode_categorical(["a", None, "b", "a"], ["b", "b", "NA", "a"])
    f = compute_drift({"c": cat_ref}, {"c": cat_cur})["features"]["c"]
    assert f["missing_reference"] == 1 and f["missing_current"] == 1


def test_zero_variance_features() -> None:
    same = compute_drift({"k": np.full(100, 3.0)}, {"k": np.full(80, 3.0)})["features"]["k"]
    assert same["psi"] == 0.0 and same["ks_statistic"] == 0.0 and same["ks_pvalue"] == 1.0
    assert same["js_distance"] == 0.0 and same["severity"] == "none" and not same["drifted"]
    assert same["bins"] == 3  # below, at, and above the single reference value
    for value in (2.0, 4.0):  # a constant reference detects a move either way
        moved = compute_drift({"k": np.full(100, 3.0)}, {"k": np.full(80, value)})["features"]
        assert moved["k"]["ks_statistic"] == 1.0 and moved["k"]["severity"] == "deny"
        assert moved["k"]["drifted"] and moved["k"]["js_distance"] == pytest.approx(1.0)


def test_values_above_a_tied_reference_maximum_get_their_own_bin() -> None:
    ref = np.array([0.0] * 60 + [1.0] * 40)  # binary feature: the top edge is the maximum
    cur = np.array([0.0] * 60 + [1.0] * 20 + [2.0] * 20)  # a new value appears
    f = compute_drift({"x": ref}, {"x": cur})["features"]["x"]
    lumped = psi(np.array([60, 40]), np.array([60, 40]))  # what lumping 2.0 with 1.0 gives
    assert lumped == 0.0
    assert f["psi"] == pytest.approx(psi(np.array([60, 40, 0]), np.array([60, 20, 20])))
    assert f["severity"] == "deny"


def test_bad_feature_input() -> None:
    with raises_code(InputError, "drift.no_values", location="current"):
        compute_drift({"x": np.array([1.0])}, {"x": np.array([np.nan, np.nan])})
    with raises_code(InputError, "data.infinite", location="reference"):
        compute_drift({"x": np.array([1.0, np.inf])}, {"x": np.array([1.0])})
    with raises_code(InputError, "drift.kind_mismatch"):
        (cat,) = encode_categorical(["a", "b"])
        compute_drift({"x": np.array([1.0, 2.0])}, {"x": cat})
    with raises_code(InputError, "data.no_such_column", location="cur.csv"):
        compute_drift({"y": np.ones(3)}, {"x": np.ones(3)}, features=["y"], labels=("r", "cur.csv"))
    with raises_code(InputError, "drift.no_features"):
        compute_drift({"a": np.ones(2)}, {"b": np.ones(2)})
    # A programming error, not bad input: the caller must align the codings first.
    with pytest.raises(ValueError, match="align_categories"):
        compute_drift(
            {"c": Categorical(np.array([0]), ("a",))}, {"c": Categorical(np.array([0]), ("b",))}
        )


def test_threads_do_not_change_results() -> None:
    ref, cur = make_data(n=2000, seed=9)
    assert compute_drift(ref, cur, max_workers=1) == compute_drift(ref, cur, max_workers=3)


# ---- thresholds from params.yaml -------------------------------------------------------------


def test_default_thresholds_equal_the_shipped_params() -> None:
    shipped = REPO / "policies" / "params.yaml"
    if not shipped.is_file():
        pytest.skip("policies/params.yaml not present")
    import yaml

    document = yaml.safe_load(shipped.read_text())
    drift_params = document["defaults"]["drift"]
    assert drift_params == DriftThresholds().to_dict()
    assert load_thresholds(shipped) == DriftThresholds()


def test_load_thresholds_from_params(tmp_path: Path) -> None:
    # load_thresholds reads params.yaml through the policy set's one reader (issue 16).
    assert load_thresholds(None) == DriftThresholds()
    assert load_thresholds(tmp_path / "absent.yaml") == DriftThresholds()
    shipped = (REPO_POLICIES / "params.yaml").read_text()
    params = tmp_path / "params.yaml"
    params.write_text(
        shipped.replace("psi_deny: 0.25 ", "psi_deny: 0.4 ").replace("bins: 10 ", "bins: 20 ")
    )
    loaded = load_thresholds(params)
    assert loaded.psi_deny == 0.4 and loaded.bins == 20 and loaded.psi_warn == 0.1
    for text, code, needle in (
        (shipped.replace("psi_deny: 0.25 ", "psi_dny: 0.4 "), "unknown-key", "psi_dny:"),
        (
            shipped.replace("psi_warn: 0.1 ", "psi_warn: 0.5 ").replace(
                "psi_deny: 0.25 ", "psi_deny: 0.2 "
            ),
            "invalid",
            "drift:",
        ),
        (shipped.replace("bins: 10 ", "bins: 1 "), "invalid", "bins:"),
    ):
        params.write_text(text)
        with pytest.raises(PolicyError) as info:
            load_thresholds(params)
        assert problem_codes(info.value) == [(code, f"{params}:{line_of(text, needle)}")]
    params.write_text("defaults: [unclosed\n")
    with raises_code(MlgateError, "yaml.invalid", location=f"{params}:2"):
        load_thresholds(params)
