"""Regenerates the example data for ``mlgate gate`` (deterministic: fixed seeds).

    python examples/data/generate.py

Writes, next to this script, three CSV files of a credit-default model's evaluation data:

- ``reference.csv``: the training-time reference;
- ``current-stable.csv``: a fresh sample of the same population (no drift);
- ``current-drifted.csv``: the same model on a shifted population: ``age`` (older applicants),
  ``income`` (about 35% higher) and ``region`` (far more applicants from the south) drift;
  the other features do not. The model also degrades in the last month (noisier scores).

Columns: six numeric features, two categorical features (``region``, ``channel``), the group
column ``sex`` (fairness), the period column ``month`` (stability), the true ``label``
(1 = default), the model's ``score`` and its 0/1 ``prediction`` (score >= 0.5).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

ROWS = 2000
HERE = Path(__file__).resolve().parent
COLUMNS = [
    "age",
    "income",
    "credit_score",
    "tenure_months",
    "num_accounts",
    "debt_ratio",
    "region",
    "channel",
    "sex",
    "month",
    "label",
    "score",
    "prediction",
]
REGIONS = ["north", "south", "east", "west"]
CHANNELS = ["online", "branch", "phone"]
MONTHS = ["2026-01", "2026-02", "2026-03"]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def sample(seed: int, *, drifted: bool) -> list[list[object]]:
    rng = np.random.default_rng(seed)
    age = rng.normal(50.0 if drifted else 42.0, 12.0, ROWS).clip(18, 90).round()
    income = np.exp(rng.normal(10.8, 0.45, ROWS)) * (1.35 if drifted else 1.0)
    income = (income / 10).round() * 10
    credit = rng.normal(680, 60, ROWS).clip(300, 850).round()
    tenure = rng.exponential(36, ROWS).round()
    accounts = rng.integers(1, 9, ROWS)
    debt = rng.beta(2, 5, ROWS).round(3)
    region_p = [0.15, 0.55, 0.15, 0.15] if drifted else [0.3, 0.25, 0.25, 0.2]
    region = rng.choice(REGIONS, ROWS, p=region_p)
    channel = rng.choice(CHANNELS, ROWS, p=[0.5, 0.35, 0.15])
    sex = rng.choice(["F", "M"], ROWS)
    # The true risk depends on the features, not on sex; the model sees the same signal plus
    # noise, so it is accurate but not perfect.
    signal = (
        -1.2
        - 0.035 * (credit - 680)
        + 9.0 * (debt - 0.28)
        - 0.8 * (np.log(income) - 10.8)
        + 0.02 * (age - 42)
        - 0.02 * (tenure - 36)
    )
    label = (rng.random(ROWS) < _sigmoid(signal)).astype(int)
    noise = rng.normal(0, 0.3, ROWS)
    # Months are assigned systematically along (label, score), so that each month is an
    # equally representative slice and the metrics per month agree closely (a stable model).
    order = np.lexsort((signal + noise, label))
    month_index = np.empty(ROWS, dtype=int)
    month_index[order] = np.arange(ROWS) % len(MONTHS)
    month = np.array(MONTHS)[month_index]
    if drifted:
        # ... except that on the shifted population the model also degrades in the last month.
        last = month_index == len(MONTHS) - 1
        noise[last] += rng.normal(0, 1.5, int(last.sum()))
    score = _sigmoid(signal + noise).round(4)
    prediction = (score >= 0.5).astype(int)
    columns = [
        age.astype(int),
        income.astype(int),
        credit.astype(int),
        tenure.astype(int),
        accounts,
        debt,
        region,
        channel,
        sex,
        month,
        label,
        score,
        prediction,
    ]
    return [list(row) for row in zip(*columns, strict=True)]


def write(name: str, rows: list[list[object]]) -> None:
    with open(HERE / name, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(rows)


def main() -> None:
    write("reference.csv", sample(1, drifted=False))
    write("current-stable.csv", sample(2, drifted=False))
    write("current-drifted.csv", sample(3, drifted=True))


if __name__ == "__main__":
    main()
