"""Metrics, bootstrap confidence intervals and stability across periods."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score

from error_codes import raises_code
from mlgate.errors import InputError
from mlgate.gates.performance import (
    as_binary,
    auc_score,
    compute_metrics,
    compute_stability,
    point_metrics,
)


def model_output(n: int, seed: int, quality: float = 1.5, scores_round: int | None = None):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.35).astype(float)
    scores = 1 / (1 + np.exp(-(quality * (2 * y - 1) + rng.normal(size=n))))
    if scores_round is not None:
        scores = np.round(scores, scores_round)  # many ties
    return y, (scores >= 0.5).astype(float), scores


@pytest.mark.parametrize("ties", [None, 1])
def test_point_metrics_match_sklearn(ties: int | None) -> None:
    y, pred, scores = model_output(1500, seed=1, scores_round=ties)
    ours = point_metrics(y, pred, scores)
    assert ours["accuracy"] == pytest.approx(accuracy_score(y, pred), abs=1e-12)
    assert ours["precision"] == pytest.approx(precision_score(y, pred), abs=1e-12)
    assert ours["recall"] == pytest.approx(recall_score(y, pred), abs=1e-12)
    assert ours["f1"] == pytest.approx(f1_score(y, pred), abs=1e-12)
    assert ours["auc"] == pytest.approx(roc_auc_score(y, scores), abs=1e-12)
    assert auc_score(y, pred) == pytest.approx(roc_auc_score(y, pred), abs=1e-12)


def test_undefined_metrics_are_none() -> None:
    y = np.array([0.0, 0.0, 0.0])
    pred = np.array([0.0, 0.0, 0.0])
    values = point_metrics(y, pred, np.array([0.1, 0.2, 0.3]))
    assert values["accuracy"] == 1.0
    assert values["precision"] is None and values["recall"] is None
    assert values["f1"] is None and values["auc"] is None
    metrics, notes = compute_metrics(y, pred, np.array([0.1, 0.2, 0.3]), n_bootstrap=50)
    assert metrics["precision"] == {"value": None, "ci_low": None, "ci_high": None, "n": 3}
    assert "precision: not computable (no predicted positives)" in notes
    assert "auc: not computable (needs both classes among the labels)" in notes


def normal_interval(p: float, n: int) -> tuple[float, float]:
    half = 1.959964 * math.sqrt(p * (1 - p) / n)
    return p - half, p + half


def test_bootstrap_intervals_are_seeded_and_sensible() -> None:
    y, pred, scores = model_output(4000, seed=2)
    metrics, notes = compute_metrics(y, pred, scores, n_bootstrap=1000, seed=7)
    again, _ = compute_metrics(y, pred, scores, n_bootstrap=1000, seed=7)
    other, _ = compute_metrics(y, pred, scores, n_bootstrap=1000, seed=8)
    assert metrics == again
    assert metrics["accuracy"]["ci_low"] != other["accuracy"]["ci_low"]
    assert notes == []
    for name, m in metrics.items():
        assert m["n"] == 4000
        assert m["ci_low"] < m["value"] < m["ci_high"], name
    # For accuracy the bootstrap percentile interval is close to the normal approximation.
    low, high = normal_interval(metrics["accuracy"]["value"], 4000)
    assert metrics["accuracy"]["ci_low"] == pytest.approx(low, abs=0.003)
    assert metrics["accuracy"]["ci_high"] == pytest.approx(high, abs=0.003)
    # A 90% interval is narrower than a 95% one from the same resamples.
    narrow, _ = compute_metrics(y, pred, scores, n_bootstrap=1000, seed=7, confidence=0.9)
    width = metrics["f1"]["ci_high"] - metrics["f1"]["ci_low"]
    assert narrow["f1"]["ci_high"] - narrow["f1"]["ci_low"] < width


def naive_bootstrap(y, pred, scores, n_boot: int, seed: int) -> dict[str, np.ndarray]:
    """Row resampling, the textbook way, for comparison."""
    rng = np.random.default_rng(seed)
    out: dict[str, list[float]] = {"accuracy": [], "recall": [], "auc": []}
    n = y.size
    for _ in range(n_boot):
        rows = rng.integers(0, n, n)
        values = point_metrics(y[rows], pred[rows], scores[rows])
        for key in out:
            out[key].append(values[key])
    return {k: np.array(v) for k, v in out.items()}


@pytest.mark.parametrize("ties", [None, 1])  # many distinct scores / few (multinomial path)
def test_cell_bootstrap_agrees_with_row_bootstrap(ties: int | None) -> None:
    y, pred, scores = model_output(600, seed=3, scores_round=ties)
    metrics, _ = compute_metrics(y, pred, scores, n_bootstrap=2000, seed=0)
    naive = naive_bootstrap(y, pred, scores, 2000, seed=1)
    for key, samples in naive.items():
        low, high = np.percentile(samples, [2.5, 97.5])
        # Two independent Monte-Carlo estimates of the same percentiles.
        assert metrics[key]["ci_low"] == pytest.approx(low, abs=0.012), key
        assert metrics[key]["ci_high"] == pytest.approx(high, abs=0.012), key


def test_no_bootstrap_and_bad_settings() -> None:
    y, pred, _ = model_output(100, seed=4)
    metrics, _ = compute_metrics(y, pred, None, n_bootstrap=0)
    assert "auc" not in metrics
    assert metrics["accuracy"]["ci_low"] is None and metrics["accuracy"]["value"] is not None
    with pytest.raises(InputError):
        compute_metrics(y, pred, n_bootstrap=-1)
    with pytest.raises(InputError):
        compute_metrics(y, pred, confidence=1.0)


def test_resamples_without_a_defined_metric_are_skipped_with_a_note() -> None:
    y = np.array([1.0] + [0.0] * 19)  # one positive: many resamples have none
    pred = y.copy()
    metrics, notes = compute_metrics(y, pred, n_bootstrap=200, seed=0)
    assert metrics["recall"]["value"] == 1.0
    assert any(note.startswith("recall: ") and "resamples skipped" in note for note in notes)


def test_as_binary() -> None:
    np.testing.assert_array_equal(as_binary([0, 1, 1], "y"), [0.0, 1.0, 1.0])
    assert np.isnan(as_binary([0.0, np.nan], "y")[1])
    with raises_code(InputError, "data.not_binary", location="f.csv"):
        as_binary([0, 2], "y", "f.csv")


# ---- stability -------------------------------------------------------------------------------


def test_stability_per_period_and_max_drop() -> None:
    y, pred, scores = model_output(900, seed=5)
    periods = np.array(["2026-03", "2026-01", "2026-02"] * 300)
    result = compute_stability(y, pred, periods, scores=scores, period_column="month")
    assert list(result["periods"]) == ["2026-01", "2026-02", "2026-03"]
    for label, values in result["periods"].items():
        mask = periods == label
        assert values == point_metrics(y[mask], pred[mask], scores[mask])
        assert result["period_sizes"][label] == 300
    for name, drop in result["max_drop"].items():
        series = [result["periods"][p][name] for p in ("2026-01", "2026-02", "2026-03")]
        expected = max(0.0, *(series[i] - series[j] for i in range(3) for j in range(i + 1, 3)))
        assert drop == pytest.approx(expected, abs=1e-15)
    assert result["stable"] is all(d <= 0.02 + 1e-12 for d in result["max_drop"].values())
    assert result["tolerance"] == 0.02 and result["period_column"] == "month"


def test_max_drop_is_a_drawdown_and_tolerance_is_inclusive() -> None:
    # accuracy per period: 0.9, 0.95, 0.93 -> largest drop from an earlier period is 0.02
    y, pred, periods = [], [], []
    for label, correct in (("1", 18), ("2", 19), ("3", 93)):
        size = 20 if label != "3" else 100
        y += [1.0] * size
        pred += [1.0] * correct + [0.0] * (size - correct)
        periods += [label] * size
    result = compute_stability(np.array(y), np.array(pred), periods, tolerance=0.02)
    assert result["periods"]["2"]["accuracy"] == 0.95
    assert result["max_drop"]["accuracy"] == pytest.approx(0.02)
    assert result["stable"] is True  # exactly the tolerance, despite 0.95 - 0.93 > 0.02 in floats
    tight = compute_stability(np.array(y), np.array(pred), periods, tolerance=0.019)
    assert tight["stable"] is False


def test_numeric_periods_sort_numerically_and_single_period_is_undecided() -> None:
    y = np.array([1.0, 0.0] * 6)
    pred = y.copy()
    result = compute_stability(y, pred, ["9", "10", "11"] * 4)
    assert list(result["periods"]) == ["9", "10", "11"]
    single = compute_stability(y, pred, ["only"] * 12)
    assert single["stable"] is None
    assert single["max_drop"]["accuracy"] is None
    assert "stability needs at least two periods" in single["notes"]
