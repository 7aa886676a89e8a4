"""Promotion-gate evidence: drift, fairness, metrics and stability from data files, composed into
the ``evidence`` section of the canonical input (DESIGN.md 3.4; Rego policies read its keys).

``compute_gate_evidence`` is the one entry point (the CLI and the engine call it). It only
measures: whether the evidence passes is decided by the policy's promotion gates, in the
engine (``mlgate gate`` puts the evidence into a canonical input).

Sections appear only when asked for: ``drift`` needs a reference file; ``metrics`` needs a label
and a prediction (or score) column; ``fairness`` also a group column; ``stability`` also a
period column. Everything is computed on the current file except drift, which compares the
two. Feature kinds are decided on the reference file (``datafiles`` rules) and imposed on the
current file, so a value that does not fit is reported with the current file's line.

Predictions: a prediction column must hold 0/1. One holding values in [0, 1] that are not all
0/1 is taken as a score and thresholded at ``threshold`` (noted). AUC uses the score column
when there is one, else the prediction column (noted, since AUC of hard predictions is just
balanced accuracy). The document holds only finite JSON numbers; a value that cannot be
computed is null with a note.
"""

from __future__ import annotations

import datetime as dt
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mlgate.errors import InputError
from mlgate.gates.columns import Categorical, Column, Table, align_categories
from mlgate.gates.datafiles import list_columns, read_table
from mlgate.gates.drift import DriftThresholds, compute_drift, load_thresholds
from mlgate.gates.fairness import DEFAULT_MIN_GROUP_SIZE, compute_fairness
from mlgate.gates.performance import (
    DEFAULT_BOOTSTRAP,
    DEFAULT_CONFIDENCE,
    DEFAULT_TOLERANCE,
    as_binary,
    compute_metrics,
    compute_stability,
)

PathLike = str | os.PathLike[str]


def compute_gate_evidence(
    *,
    current: PathLike,
    reference: PathLike | None = None,
    features: Sequence[str] | None = None,
    categorical: Sequence[str] = (),
    label: str | None = None,
    prediction: str | None = None,
    score: str | None = None,
    group: str | None = None,
    period: str | None = None,
    columns: Sequence[str] | None = None,
    thresholds: DriftThresholds | None = None,
    params_path: PathLike | None = None,
    min_group_size: int = DEFAULT_MIN_GROUP_SIZE,
    n_bootstrap: int = DEFAULT_BOOTSTRAP,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
    tolerance: float | None = None,
    threshold: float = 0.5,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Computes the evidence document. Raises InputError for unusable input.

    ``thresholds`` wins over ``params_path`` (a params.yaml; its ``defaults.drift``), which
    wins over the built-in defaults; likewise ``tolerance`` over ``defaults.stability.
    max_metric_drop`` over 0.02, so that the ``stable`` flag agrees with the policy that reads
    it. ``columns`` names the columns of plain 2-D ``.npy`` files.
    """
    roles = {
        "label": label,
        "prediction": prediction,
        "score": score,
        "group": group,
        "period": period,
    }
    _check_roles(roles)
    wants_drift = reference is not None
    wants_metrics = label is not None and (prediction is not None or score is not None)
    if (group or period) and not wants_metrics:
        raise InputError(
            "--group and --period need --label and --prediction (or --score)",
            code="gate.group_needs_model",
        )
    if label is not None and not wants_metrics:
        raise InputError(
            "--label needs --prediction or --score", code="gate.label_needs_prediction"
        )
    if (prediction or score) and label is None:
        raise InputError(
            "--prediction and --score need --label", code="gate.prediction_needs_label"
        )
    if not wants_drift and not wants_metrics:
        raise InputError(
            "nothing to compute: give --reference for drift and/or --label with --prediction",
            code="gate.nothing_to_compute",
        )
    if not 0 <= threshold <= 1:
        raise InputError(
            f"threshold must be within [0, 1], got {threshold}", code="gate.bad_threshold"
        )
    role_columns = [c for c in roles.values() if c is not None]
    current_path = str(current)
    current_names = list_columns(current, names=columns)
    for column in role_columns:
        if column not in current_names:
            raise InputError(
                f"no column named {column!r} (columns: {', '.join(current_names)})",
                location=current_path,
                code="data.no_such_column",
            )

    forced_categorical = {c for c in (group, period) if c}
    forced_numeric = {c for c in (label, prediction, score) if c}
    clash = forced_numeric & set(categorical)
    if clash:
        raise InputError(f"column {sorted(clash)[0]!r} holds 0/1 values; it cannot be categorical")

    evidence: dict[str, Any] = {}
    notes: list[str] = []
    feature_names: list[str] = []
    reference_table: Table | None = None
    if wants_drift:
        assert reference is not None
        reference_names = list_columns(reference, names=columns)
        feature_names = _features(
            features, reference_names, current_names, role_columns, str(reference), current_path
        )
        unknown = [c for c in categorical if c not in feature_names]
        if unknown:
            raise InputError(f"--categorical names {unknown[0]!r}, which is not a feature")
        reference_table = read_table(
            reference,
            columns=feature_names,
            categorical=(set(categorical) | forced_categorical) & set(feature_names),
            numeric=forced_numeric & set(feature_names),
            names=columns,
        )
    elif categorical or features:
        raise InputError("--features and --categorical describe drift features: add --reference")

    # Kinds decided on the reference are imposed on the current file.
    ref_categorical = {
        f for f in feature_names if reference_table and reference_table.kind(f) == "categorical"
    }
    current_table = read_table(
        current,
        columns=list(dict.fromkeys([*feature_names, *role_columns])),
        categorical=ref_categorical | forced_categorical,
        numeric=(set(feature_names) - ref_categorical) | forced_numeric,
        names=columns,
    )

    if reference_table is not None:
        thresholds = thresholds or load_thresholds(params_path)
        ref_columns, cur_columns = _aligned(reference_table, current_table, feature_names)
        evidence["drift"] = compute_drift(
            ref_columns,
            cur_columns,
            features=feature_names,
            thresholds=thresholds,
            n_reference=reference_table.n_rows,
            n_current=current_table.n_rows,
            labels=(reference_table.path, current_table.path),
        )

    if wants_metrics:
        assert label is not None
        y_true, y_pred, scores, keep, model_notes = _model_columns(
            current_table, label, prediction, score, threshold
        )
        notes.extend(model_notes)
        if not np.any(keep):
            raise InputError(
                "no rows with both a label and a prediction", location=current_table.path
            )
        metrics, metric_notes = compute_metrics(
            y_true[keep],
            y_pred[keep],
            scores[keep],
            n_bootstrap=n_bootstrap,
            confidence=confidence,
            seed=seed,
        )
        evidence["metrics"] = metrics
        notes.extend(metric_notes)
        if group:
            evidence["fairness"] = compute_fairness(
                y_true,
                y_pred,
                _categorical(current_table, group),
                group_column=group,
                min_group_size=min_group_size,
            )
        if period:
            if tolerance is None:
                tolerance = _stability_tolerance(params_path)
            periods = _categorical(current_table, period)
            evidence["stability"] = compute_stability(
                y_true[keep],
                y_pred[keep],
                Categorical(periods.codes[keep], periods.categories),
                scores=scores[keep],
                period_column=period,
                tolerance=tolerance,
            )
        evidence["settings"] = {
            "bootstrap": n_bootstrap,
            "confidence": confidence,
            "seed": seed,
            "threshold": threshold,
        }

    stamp = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    evidence["generated_at"] = stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
    inputs = {"current": current_path}
    if reference is not None:
        inputs = {"reference": str(reference), **inputs}
    evidence["inputs"] = inputs
    document: dict[str, Any] = _json_safe(evidence, notes, "")
    if notes:
        document["notes"] = notes
    return document


# --------------------------------------------------------------------------------------------


def _stability_tolerance(params_path: PathLike | None) -> float:
    """``defaults.stability.max_metric_drop`` of a params.yaml (read and checked by the policy
    set's one params.yaml reader), else ``DEFAULT_TOLERANCE`` when there is no file."""
    if params_path is None or not os.path.isfile(params_path):
        return DEFAULT_TOLERANCE
    from mlgate.policyset.params import read_params_file

    document, _ = read_params_file(Path(params_path))
    return float(document["defaults"]["stability"]["max_metric_drop"])


def _check_roles(roles: Mapping[str, str | None]) -> None:
    seen: dict[str, str] = {}
    for role, column in roles.items():
        if column is None:
            continue
        if not column:
            raise InputError(f"--{role} needs a column name")
        if column in seen:
            raise InputError(f"column {column!r} cannot be both the {seen[column]} and the {role}")
        seen[column] = role


def _features(
    requested: Sequence[str] | None,
    reference_names: Sequence[str],
    current_names: Sequence[str],
    role_columns: Sequence[str],
    reference_path: str,
    current_path: str,
) -> list[str]:
    if requested is not None:
        names = list(dict.fromkeys(requested))
        if not names:
            raise InputError("--features is empty")
        for name, available, path in (
            *((n, reference_names, reference_path) for n in names),
            *((n, current_names, current_path) for n in names),
        ):
            if name not in available:
                raise InputError(
                    f"no column named {name!r} (columns: {', '.join(available)})",
                    location=path,
                    code="data.no_such_column",
                )
        return names
    shared = set(current_names)
    names = [n for n in reference_names if n in shared and n not in role_columns]
    if not names:
        raise InputError(
            f"{reference_path} and {current_path} share no feature columns "
            f"(reference: {', '.join(reference_names)}; current: {', '.join(current_names)})",
            code="gate.no_shared_features",
        )
    return names


def _aligned(
    reference: Table, current: Table, names: Sequence[str]
) -> tuple[dict[str, Column], dict[str, Column]]:
    ref: dict[str, Column] = {}
    cur: dict[str, Column] = {}
    for name in names:
        a, b = reference[name], current[name]
        if isinstance(a, Categorical) and isinstance(b, Categorical):
            a, b = align_categories(a, b)
        ref[name], cur[name] = a, b
    return ref, cur


def _categorical(table: Table, name: str) -> Categorical:
    column = table[name]
    assert isinstance(column, Categorical)  # forced categorical when read
    return column


def _numeric(table: Table, name: str) -> np.ndarray:
    column = table[name]
    assert not isinstance(column, Categorical)  # forced numeric when read
    return column


def _model_columns(
    table: Table, label: str, prediction: str | None, score: str | None, threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Labels, hard predictions, AUC scores and the rows usable for metrics."""
    notes: list[str] = []
    y_true = as_binary(_numeric(table, label), label, table.path)
    scores = _numeric(table, score) if score else None
    if scores is not None:
        present = scores[~np.isnan(scores)]
        if present.size and (present.min() < 0 or present.max() > 1) and prediction is None:
            raise InputError(
                f"column {score!r}: scores must be probabilities in [0, 1] to be thresholded "
                "(or give --prediction)",
                location=table.path,
            )
    if prediction is not None:
        raw = _numeric(table, prediction)
        present = raw[~np.isnan(raw)]
        if np.all((present == 0) | (present == 1)):
            y_pred = raw
        elif present.size and present.min() >= 0 and present.max() <= 1:
            notes.append(
                f"column {prediction!r} holds probabilities: predictions are values >= "
                f"{threshold:g}"
            )
            if scores is None:
                scores = raw
            y_pred = np.where(np.isnan(raw), np.nan, (raw >= threshold).astype(np.float64))
        else:
            y_pred = as_binary(raw, prediction, table.path)  # raises with the offending value
    else:
        assert scores is not None
        y_pred = np.where(np.isnan(scores), np.nan, (scores >= threshold).astype(np.float64))
        notes.append(f"predictions are {score!r} >= {threshold:g}")
    if scores is None:
        scores = y_pred
        notes.append("auc: computed from hard 0/1 predictions (give --score for a ranking AUC)")
    keep = ~np.isnan(y_true) & ~np.isnan(y_pred) & ~np.isnan(scores)
    skipped = int(keep.shape[0] - np.count_nonzero(keep))
    if skipped:
        notes.append(f"metrics: {skipped} rows missing the label, prediction or score were skipped")
    return y_true, y_pred, scores, keep, notes


def _json_safe(value: Any, notes: list[str], path: str) -> Any:
    """Plain JSON types only; a non-finite float becomes null with a note naming its path."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v, notes, f"{path}/{k}") for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v, notes, f"{path}/{i}") for i, v in enumerate(value)]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        number = float(value)
        if not math.isfinite(number):
            notes.append(f"{path}: not a finite number, reported as null")
            return None
        return number
    return value
