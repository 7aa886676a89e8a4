"""Fairness evidence against fairlearn (the reference implementation; test-only), within 1e-9."""

from __future__ import annotations

import numpy as np
import pytest
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    demographic_parity_ratio,
    equal_opportunity_difference,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from sklearn.metrics import accuracy_score

from error_codes import raises_code
from mlgate.errors import InputError
from mlgate.gates.columns import encode_categorical
from mlgate.gates.fairness import compute_fairness

TOL = 1e-9


def synthetic(n: int = 3000, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    groups = rng.choice(["a", "b", "c"], size=n, p=[0.5, 0.3, 0.2])
    y_true = (rng.random(n) < 0.4).astype(float)
    # group-dependent model behaviour so that the metrics differ between groups
    bias = np.select([groups == "a", groups == "b"], [0.1, -0.05], -0.15)
    y_pred = (rng.random(n) < 0.25 + 0.4 * y_true + bias).astype(float)
    return y_true, y_pred, groups


def test_per_group_and_parity_metrics_match_fairlearn() -> None:
    y_true, y_pred, groups = synthetic()
    result = compute_fairness(y_true, y_pred, groups, group_column="g")
    frame = MetricFrame(
        metrics={
            "selection_rate": selection_rate,
            "tpr": true_positive_rate,
            "fpr": false_positive_rate,
            "accuracy": accuracy_score,
        },
        y_true=y_true,
        y_pred=y_pred,
        sensitive_features=groups,
    )
    by_group = frame.by_group
    assert set(result["groups"]) == {"a", "b", "c"}
    for name, row in by_group.iterrows():
        ours = result["groups"][name]
        assert ours["n"] == int(np.sum(groups == name))
        for metric in ("selection_rate", "tpr", "fpr", "accuracy"):
            assert ours[metric] == pytest.approx(row[metric], abs=TOL), (name, metric)
    kwargs = {"sensitive_features": groups}
    assert result["demographic_parity_difference"] == pytest.approx(
        demographic_parity_difference(y_true, y_pred, **kwargs), abs=TOL
    )
    assert result["demographic_parity_ratio"] == pytest.approx(
        demographic_parity_ratio(y_true, y_pred, **kwargs), abs=TOL
    )
    assert result["equal_opportunity_difference"] == pytest.approx(
        equal_opportunity_difference(y_true, y_pred, **kwargs), abs=TOL
    )
    ratio = result["demographic_parity_ratio"]
    assert result["four_fifths_rule"] is (ratio >= 0.8)
    assert result["small_groups"] == [] and result["notes"] == []
    assert result["group_column"] == "g" and result["min_group_size"] == 30


def test_small_groups_are_reported_but_excluded_from_parity() -> None:
    y_true, y_pred, groups = synthetic(n=2000, seed=1)
    groups = groups.astype(object)
    groups[:12] = "tiny"  # 12 rows < 30
    y_pred[:12] = 0.0  # a tiny group that is never selected would fail four-fifths alone
    result = compute_fairness(y_true, y_pred, groups)
    assert result["small_groups"] == ["tiny"]
    assert result["groups"]["tiny"]["n"] == 12 and result["groups"]["tiny"]["small"] is True
    assert result["groups"]["tiny"]["selection_rate"] == 0.0
    assert any("fewer than 30 rows" in note and "tiny (n=12)" in note for note in result["notes"])
    big = groups != "tiny"
    kwargs = {"sensitive_features": groups[big]}
    assert result["demographic_parity_ratio"] == pytest.approx(
        demographic_parity_ratio(y_true[big], y_pred[big], **kwargs), abs=TOL
    )
    assert result["demographic_parity_difference"] == pytest.approx(
        demographic_parity_difference(y_true[big], y_pred[big], **kwargs), abs=TOL
    )
    assert result["equal_opportunity_difference"] == pytest.approx(
        equal_opportunity_difference(y_true[big], y_pred[big], **kwargs), abs=TOL
    )
    assert result["demographic_parity_ratio"] > 0  # the tiny group's 0 was left out
    included = compute_fairness(y_true, y_pred, groups, min_group_size=1)
    assert included["demographic_parity_ratio"] == 0.0 and included["four_fifths_rule"] is False


def test_four_fifths_boundary_and_failure() -> None:
    # selection rates 0.5 and 0.4: ratio exactly 0.8 passes
    groups = np.array(["x"] * 100 + ["y"] * 100)
    y_true = np.zeros(200)
    y_pred = np.concatenate([np.repeat([1.0, 0.0], 50), np.repeat([1.0, 0.0], [40, 60])])
    result = compute_fairness(y_true, y_pred, groups)
    assert result["demographic_parity_ratio"] == pytest.approx(0.8)
    assert result["four_fifths_rule"] is True
    y_pred[100:140] = np.repeat([1.0, 0.0], 20)  # y selects 20 of 100 -> ratio 0.6
    y_pred[140:] = 0.0
    failing = compute_fairness(y_true, y_pred, groups)
    assert failing["demographic_parity_ratio"] == pytest.approx(0.2 / 0.5)
    assert failing["four_fifths_rule"] is False
    assert failing["groups"]["y"]["tpr"] is None  # no positive labels at all
    assert failing["equal_opportunity_difference"] is None
    assert any("positive labels" in note for note in failing["notes"])


def test_undefined_metrics_are_null_with_notes() -> None:
    groups = np.array(["x"] * 40 + ["y"] * 40)
    y_true = np.tile([0.0, 1.0], 40)
    none_selected = compute_fairness(y_true, np.zeros(80), groups)
    assert none_selected["demographic_parity_difference"] == 0.0
    assert none_selected["demographic_parity_ratio"] is None
    assert none_selected["four_fifths_rule"] is None
    assert any("no group has a positive prediction" in n for n in none_selected["notes"])
    one_group = compute_fairness(y_true, y_true, np.array(["x"] * 80))
    assert one_group["demographic_parity_difference"] is None
    assert one_group["four_fifths_rule"] is None
    assert any("at least two groups" in n for n in one_group["notes"])


def test_missing_rows_are_skipped_and_categorical_groups_accepted() -> None:
    y_true, y_pred, groups = synthetic(n=600, seed=2)
    y_true[0] = np.nan
    y_pred[1] = np.nan
    (column,) = encode_categorical([None if i == 2 else g for i, g in enumerate(groups)])
    result = compute_fairness(y_true, y_pred, column)
    assert result["n"] == 597
    assert "3 rows missing the label, prediction or group were skipped" in result["notes"]
    keep = np.ones(600, dtype=bool)
    keep[:3] = False
    expected = demographic_parity_difference(
        y_true[keep], y_pred[keep], sensitive_features=groups[keep]
    )
    assert result["demographic_parity_difference"] == pytest.approx(expected, abs=TOL)


def test_bad_input() -> None:
    groups = np.array(["a", "b"])
    with raises_code(InputError, "fairness.not_binary", location="labels"):
        compute_fairness(np.array([0.0, 2.0]), np.array([0.0, 1.0]), groups)
    with raises_code(InputError, "fairness.not_binary", location="predictions"):
        compute_fairness(np.array([0.0, 1.0]), np.array([0.0, 0.5]), groups)
    with raises_code(InputError, "fairness.length_mismatch"):
        compute_fairness(np.array([0.0]), np.array([0.0, 1.0]), groups)
    with raises_code(InputError, "fairness.min_group_size"):
        compute_fairness(np.array([0.0, 1.0]), np.array([0.0, 1.0]), groups, min_group_size=0)
    with raises_code(InputError, "fairness.no_rows"):
        compute_fairness(np.array([np.nan, np.nan]), np.array([0.0, 1.0]), groups)
