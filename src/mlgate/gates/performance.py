"""Performance evidence for a binary classifier: metrics with bootstrap confidence intervals,
and stability of the metrics across evaluation periods.

- Metrics: accuracy, precision, recall, F1 (from hard 0/1 predictions) and ROC AUC (rank
  based: the Mann-Whitney statistic, ties counting one half, from scores). A metric that is
  undefined on the data (precision with no predicted positives, AUC with one class) is
  ``None`` with a note, never NaN.
- Confidence intervals: percentile bootstrap, ``n_bootstrap`` resamples (default 1000) from a
  seeded ``numpy.random.Generator``, percentiles by numpy's default linear interpolation. A
  resample of n rows with replacement only changes how many rows fall into each cell (label x
  prediction, or label x distinct score), so resamples are drawn as multinomial cell counts:
  exactly the row bootstrap's distribution, without materialising n x B row indices. AUC with
  many distinct scores resamples row indices in bounded batches instead. Resamples on which a
  metric is undefined are skipped and counted in a note.
- Stability: the metrics per period (periods ordered naturally: numerically when every label
  is a number, else as text, so ISO dates sort by time); ``max_drop`` is the largest decrease
  from any period to a later one; ``stable`` is true when no metric dropped by more than
  ``tolerance`` (absolute; default 0.02).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from mlgate.errors import InputError
from mlgate.gates.columns import Categorical, encode_categorical

METRICS = ("accuracy", "precision", "recall", "f1", "auc")
DEFAULT_BOOTSTRAP = 1000
DEFAULT_CONFIDENCE = 0.95
DEFAULT_TOLERANCE = 0.02
# Float noise must not turn a drop of exactly the tolerance into a breach (0.93 - 0.91 > 0.02).
_TOLERANCE_SLACK = 1e-12
# Bound on the rows x resamples index block when AUC resamples rows (8 bytes each).
_MAX_BLOCK = 1 << 22


def as_binary(values: object, name: str, where: str | None = None) -> np.ndarray:
    """A 0/1 column as float64 (NaN = missing). Anything else is an InputError."""
    if isinstance(values, Categorical):
        found = values.categories[0] if values.categories else "no values"
        raise InputError(
            f"column {name!r} must hold 0/1 values, found {found!r}",
            location=where,
            code="data.not_binary",
        )
    array = np.asarray(values, dtype=np.float64)
    present = array[~np.isnan(array)]
    bad = present[(present != 0) & (present != 1)]
    if bad.size:
        raise InputError(
            f"column {name!r} must hold 0/1 values, found {bad[0]:g}",
            location=where,
            code="data.not_binary",
        )
    return array


def confusion_counts(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """``[tn, fp, fn, tp]`` for 0/1 arrays without missing values."""
    cell = np.asarray(y_true, dtype=np.int64) * 2 + np.asarray(y_pred, dtype=np.int64)
    return np.bincount(cell, minlength=4)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def _confusion_metrics(counts: np.ndarray) -> dict[str, np.ndarray]:
    """Metrics for one (4,) or many (B, 4) count vectors; NaN where undefined."""
    c = np.asarray(counts, dtype=np.float64)
    tn, fp, fn, tp = c[..., 0], c[..., 1], c[..., 2], c[..., 3]
    n = tn + fp + fn + tp
    return {
        "accuracy": _ratio(tp + tn, n),
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
    }


def _score_cells(
    y_true: np.ndarray, scores: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per distinct score (ascending): negatives and positives; and each row's score group."""
    uniques, group = np.unique(np.asarray(scores, dtype=np.float64), return_inverse=True)
    k = uniques.shape[0]
    y = np.asarray(y_true, dtype=np.int64)
    pos = np.bincount(group, weights=y, minlength=k)
    neg = np.bincount(group, minlength=k) - pos
    return neg, pos, group


def _auc_from_cells(neg: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """AUC for (K,) or (B, K) cell counts ordered by ascending score; NaN for one class."""
    neg = np.asarray(neg, dtype=np.float64)
    pos = np.asarray(pos, dtype=np.float64)
    below = np.cumsum(neg, axis=-1) - neg  # negatives with a strictly lower score
    u = np.sum(pos * (below + 0.5 * neg), axis=-1)
    return _ratio(u, pos.sum(axis=-1) * neg.sum(axis=-1))


def auc_score(y_true: np.ndarray, scores: np.ndarray) -> float | None:
    """ROC AUC (Mann-Whitney, ties 1/2); ``None`` unless both classes occur."""
    neg, pos, _ = _score_cells(y_true, scores)
    value = float(_auc_from_cells(neg, pos))
    return value if math.isfinite(value) else None


def point_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, scores: np.ndarray | None = None
) -> dict[str, float | None]:
    """Point estimates of ``METRICS`` (AUC only with scores); ``None`` where undefined."""
    values = {k: float(v) for k, v in _confusion_metrics(confusion_counts(y_true, y_pred)).items()}
    if scores is not None:
        values["auc"] = float(_auc_from_cells(*_score_cells(y_true, scores)[:2]))
    return {k: (v if math.isfinite(v) else None) for k, v in values.items()}


def _bootstrap_auc(
    neg: np.ndarray,
    pos: np.ndarray,
    group: np.ndarray,
    y: np.ndarray,
    n_boot: int,
    rng: np.random.Generator,
) -> np.ndarray:
    n = int(group.shape[0])
    k = int(neg.shape[0])
    out = np.empty(n_boot)
    if 2 * k <= max(256, n // 8):
        # few distinct scores (e.g. hard predictions): multinomial over the 2k cells
        probs = np.concatenate([neg, pos]) / n
        batch = max(1, _MAX_BLOCK // (2 * k))
        for start in range(0, n_boot, batch):
            size = min(batch, n_boot - start)
            draws = rng.multinomial(n, probs, size=size)
            out[start : start + size] = _auc_from_cells(draws[:, :k], draws[:, k:])
        return out
    cell_of_row = group + k * np.asarray(y, dtype=np.int64)
    batch = max(1, _MAX_BLOCK // n)
    for start in range(0, n_boot, batch):
        size = min(batch, n_boot - start)
        rows = rng.integers(0, n, size=(size, n))
        flat = cell_of_row[rows] + (np.arange(size) * 2 * k)[:, None]
        counts = np.bincount(flat.ravel(), minlength=size * 2 * k).reshape(size, 2 * k)
        out[start : start + size] = _auc_from_cells(counts[:, :k], counts[:, k:])
    return out


def _interval(samples: np.ndarray, confidence: float) -> tuple[float | None, float | None, int]:
    valid = samples[np.isfinite(samples)]
    skipped = int(samples.shape[0] - valid.shape[0])
    if valid.shape[0] < 2:
        return None, None, skipped
    alpha = 1.0 - confidence
    low, high = np.percentile(valid, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return float(low), float(high), skipped


_UNDEFINED = {
    "accuracy": "no rows",
    "precision": "no predicted positives",
    "recall": "no positive labels",
    "f1": "no positive labels or predictions",
    "auc": "needs both classes among the labels",
}


def compute_metrics(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    scores: np.ndarray | None = None,
    *,
    n_bootstrap: int = DEFAULT_BOOTSTRAP,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """The ``metrics`` section and its notes, for 0/1 labels and predictions without missing
    values (and optional scores for AUC)."""
    if n_bootstrap < 0:
        raise InputError(f"the number of bootstrap resamples must be >= 0, got {n_bootstrap}")
    if not 0 < confidence < 1:
        raise InputError(f"confidence must be between 0 and 1, got {confidence}")
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    n = int(y_true.shape[0])
    notes: list[str] = []
    counts = confusion_counts(y_true, y_pred)
    point = {k: float(v) for k, v in _confusion_metrics(counts).items()}
    samples: dict[str, np.ndarray] = {}
    rng = np.random.default_rng(seed)
    if n_bootstrap and n:
        draws = rng.multinomial(n, counts / n, size=n_bootstrap)
        samples = _confusion_metrics(draws)
    if scores is not None:
        neg, pos, group = _score_cells(y_true, scores)
        point["auc"] = float(_auc_from_cells(neg, pos))
        if n_bootstrap and n:
            samples["auc"] = _bootstrap_auc(neg, pos, group, y_true, n_bootstrap, rng)
    metrics: dict[str, dict[str, Any]] = {}
    for name in METRICS:
        if name not in point:
            continue
        value = point[name]
        entry: dict[str, Any] = {"value": None, "ci_low": None, "ci_high": None, "n": n}
        if not math.isfinite(value):
            notes.append(f"{name}: not computable ({_UNDEFINED[name]})")
            metrics[name] = entry
            continue
        entry["value"] = value
        if name in samples:
            low, high, skipped = _interval(samples[name], confidence)
            entry["ci_low"], entry["ci_high"] = low, high
            if low is None:
                notes.append(f"{name}: no confidence interval ({_UNDEFINED[name]} in resamples)")
            elif skipped:
                notes.append(
                    f"{name}: {skipped} of {n_bootstrap} bootstrap resamples skipped "
                    f"({_UNDEFINED[name]})"
                )
        metrics[name] = entry
    return metrics, notes


def _period_order(labels: Sequence[str]) -> list[str]:
    try:
        keyed = sorted((float(label), label) for label in labels)
    except ValueError:
        return sorted(labels)
    return [label for _, label in keyed]


def compute_stability(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    periods: Categorical | np.ndarray | Sequence[object],
    *,
    scores: np.ndarray | None = None,
    period_column: str = "period",
    tolerance: float = DEFAULT_TOLERANCE,
) -> dict[str, Any]:
    """The ``stability`` section: metrics per period, their largest drop, ``stable``."""
    if tolerance < 0 or not math.isfinite(tolerance):
        raise InputError(f"the stability tolerance must be >= 0, got {tolerance}")
    column = periods if isinstance(periods, Categorical) else encode_categorical(periods)[0]
    codes = np.asarray(column.codes)
    notes: list[str] = []
    per_period: dict[str, dict[str, float | None]] = {}
    sizes: dict[str, int] = {}
    present = [c for c in range(len(column.categories)) if np.any(codes == c)]
    for label in _period_order([column.categories[c] for c in present]):
        mask = codes == column.categories.index(label)
        sizes[label] = int(np.count_nonzero(mask))
        per_period[label] = point_metrics(
            y_true[mask], y_pred[mask], None if scores is None else scores[mask]
        )
    missing = int(np.count_nonzero(codes < 0))
    if missing:
        notes.append(f"{missing} rows without a {period_column!r} value are not in any period")
    max_drop: dict[str, float | None] = {}
    names = [m for m in METRICS if any(m in p for p in per_period.values())]
    for name in names:
        series = [p[name] for p in per_period.values() if p.get(name) is not None]
        if len(series) < 2:
            max_drop[name] = None
            continue
        values = np.asarray(series, dtype=np.float64)
        best_before = np.maximum.accumulate(values)[:-1]
        max_drop[name] = float(max(0.0, np.max(best_before - values[1:])))
    measured = [d for d in max_drop.values() if d is not None]
    if len(per_period) < 2:
        notes.append("stability needs at least two periods")
    stable = all(d <= tolerance + _TOLERANCE_SLACK for d in measured) if measured else None
    return {
        "period_column": period_column,
        "periods": per_period,
        "period_sizes": sizes,
        "max_drop": max_drop,
        "stable": stable,
        "tolerance": tolerance,
        "notes": notes,
    }
