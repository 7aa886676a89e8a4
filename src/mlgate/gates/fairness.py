"""Fairness evidence for a binary classifier, disaggregated by a group column.

Per group: ``n``, ``selection_rate`` (share predicted 1), ``tpr``, ``fpr`` and ``accuracy``;
``tpr``/``fpr`` are ``None`` when the group has no positive/negative labels. Across groups,
as fairlearn defines them (``demographic_parity_difference``/``_ratio``,
``equal_opportunity_difference`` with ``method="between_groups"``):

- demographic parity difference: max - min selection rate;
- demographic parity ratio: min / max selection rate; the **four-fifths rule** holds when it
  is at least ``FOUR_FIFTHS`` (0.8);
- equal opportunity difference: max - min true positive rate.

Groups with fewer than ``min_group_size`` rows (default 30) are still reported, marked
``"small": true`` and listed in ``small_groups``, but left out of the cross-group metrics:
their rates are too noisy to judge a model by, and one tiny group would otherwise decide the
outcome. A metric that cannot be computed (fewer than two eligible groups, no selections at
all) is ``None`` with a note. Rows missing the label, prediction or group are skipped (noted).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mlgate.errors import InputError
from mlgate.gates.columns import Categorical, encode_categorical

FOUR_FIFTHS = 0.8
DEFAULT_MIN_GROUP_SIZE = 30


def _groups(groups: Categorical | np.ndarray | Sequence[object]) -> Categorical:
    if isinstance(groups, Categorical):
        return groups
    (column,) = encode_categorical(groups)
    return column


def compute_fairness(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    groups: Categorical | np.ndarray | Sequence[object],
    *,
    group_column: str = "group",
    min_group_size: int = DEFAULT_MIN_GROUP_SIZE,
) -> dict[str, Any]:
    """The ``fairness`` section. ``y_true``/``y_pred`` are 0/1 (NaN = missing)."""
    if (
        isinstance(min_group_size, bool)
        or not isinstance(min_group_size, int)
        or min_group_size < 1
    ):
        raise InputError(
            f"min_group_size must be a positive integer, got {min_group_size!r}",
            code="fairness.min_group_size",
        )
    yt = np.asarray(y_true, dtype=np.float64)
    yp = np.asarray(y_pred, dtype=np.float64)
    column = _groups(groups)
    codes = np.asarray(column.codes, dtype=np.int64)
    if not yt.shape == yp.shape == codes.shape:
        raise InputError(
            "labels, predictions and groups must have the same length",
            code="fairness.length_mismatch",
        )
    for values, role in ((yt, "labels"), (yp, "predictions")):
        present = values[~np.isnan(values)]
        if np.any((present != 0) & (present != 1)):
            raise InputError(
                f"fairness needs 0/1 {role}", location=role, code="fairness.not_binary"
            )
    notes: list[str] = []
    keep = ~np.isnan(yt) & ~np.isnan(yp) & (codes >= 0)
    dropped = int(keep.shape[0] - np.count_nonzero(keep))
    if dropped:
        notes.append(f"{dropped} rows missing the label, prediction or group were skipped")
    k = len(column.categories)
    cell = codes[keep] * 4 + yt[keep].astype(np.int64) * 2 + yp[keep].astype(np.int64)
    table = np.bincount(cell, minlength=4 * k).reshape(k, 4)  # tn, fp, fn, tp per group

    per_group: dict[str, dict[str, Any]] = {}
    eligible: list[str] = []
    small: list[str] = []
    for index in sorted(range(k), key=lambda i: column.categories[i]):
        tn, fp, fn, tp = (int(v) for v in table[index])
        n = tn + fp + fn + tp
        if n == 0:
            continue
        name = column.categories[index]
        is_small = n < min_group_size
        per_group[name] = {
            "n": n,
            "selection_rate": (fp + tp) / n,
            "tpr": tp / (tp + fn) if tp + fn else None,
            "fpr": fp / (fp + tn) if fp + tn else None,
            "accuracy": (tp + tn) / n,
            "small": is_small,
        }
        (small if is_small else eligible).append(name)
    if not per_group:
        raise InputError("no rows with a label, a prediction and a group", code="fairness.no_rows")
    if small:
        listed = ", ".join(f"{g} (n={per_group[g]['n']})" for g in small)
        notes.append(
            f"groups with fewer than {min_group_size} rows are excluded from the parity "
            f"metrics: {listed}"
        )

    dpd = dpr = eod = None
    four_fifths = None
    if len(eligible) < 2:
        notes.append(f"parity metrics need at least two groups with {min_group_size} or more rows")
    else:
        rates = [per_group[g]["selection_rate"] for g in eligible]
        dpd = max(rates) - min(rates)
        if max(rates) > 0:
            dpr = min(rates) / max(rates)
            four_fifths = dpr >= FOUR_FIFTHS
        else:
            notes.append("no group has a positive prediction: parity ratio undefined")
        tprs = [per_group[g]["tpr"] for g in eligible if per_group[g]["tpr"] is not None]
        without = [g for g in eligible if per_group[g]["tpr"] is None]
        if without:
            notes.append(
                "groups without positive labels are excluded from equal opportunity: "
                + ", ".join(without)
            )
        if len(tprs) >= 2:
            eod = max(tprs) - min(tprs)
        else:
            notes.append("equal opportunity needs two groups with positive labels")
    return {
        "group_column": group_column,
        "min_group_size": min_group_size,
        "n": int(np.count_nonzero(keep)),
        "groups": per_group,
        "demographic_parity_difference": dpd,
        "demographic_parity_ratio": dpr,
        "four_fifths_rule": four_fifths,
        "equal_opportunity_difference": eod,
        "small_groups": small,
        "notes": notes,
    }
