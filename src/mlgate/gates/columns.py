"""Columns of evidence data: numeric (float64, NaN missing) or :class:`Categorical`.

The shared model of :mod:`mlgate.gates.datafiles` and its readers: the column kinds, the
:class:`Table` of one file, the missing-cell tokens, and the shared coding of categorical
columns that drift and fairness compare.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from mlgate.errors import InputError, location_of

MISSING_TOKENS = frozenset({"", "NA", "N/A", "NaN", "nan", "null", "NULL", "None"})

CHUNK_ROWS = 16_384  # rows converted at a time (CSV chunks, Parquet batches)

Kind = Literal["numeric", "categorical"]


@dataclass(frozen=True, eq=False)
class Categorical:
    """A categorical column: ``codes[i]`` indexes ``categories``; ``-1`` means missing."""

    codes: np.ndarray
    categories: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.codes.shape[0])

    @property
    def n_missing(self) -> int:
        return int(np.count_nonzero(self.codes < 0))

    def labels(self) -> list[str | None]:
        """The values as strings (``None`` for missing). For small columns and tests."""
        return [self.categories[c] if c >= 0 else None for c in self.codes.tolist()]


Column = np.ndarray | Categorical


def kind_of(column: Column) -> Kind:
    return "categorical" if isinstance(column, Categorical) else "numeric"


@dataclass
class Table:
    """Columns read from one file, all of the same length ``n_rows``."""

    path: str
    columns: dict[str, Column] = field(default_factory=dict)
    n_rows: int = 0

    def __contains__(self, name: object) -> bool:
        return name in self.columns

    def __getitem__(self, name: str) -> Column:
        try:
            return self.columns[name]
        except KeyError:
            raise InputError(
                f"no column named {name!r} (columns: {', '.join(self.columns) or 'none'})",
                location=self.path,
            ) from None

    def kind(self, name: str) -> Kind:
        return kind_of(self[name])


def align_categories(*columns: Categorical) -> list[Categorical]:
    """Re-codes categorical columns onto one shared list of categories (first-seen order).

    Columns read from different files number their categories independently; comparing
    distributions needs one coding.
    """
    shared: dict[str, int] = {}
    for column in columns:
        for label in column.categories:
            shared.setdefault(label, len(shared))
    categories = tuple(shared)
    out = []
    for column in columns:
        if column.categories == categories:
            out.append(column)
            continue
        # -1 (missing) must stay -1: map through a table with one extra slot at the end.
        mapping = np.array([shared[c] for c in column.categories] + [-1], dtype=np.int32)
        out.append(Categorical(mapping[column.codes], categories))
    return out


def encode_categorical(*arrays: Iterable[object]) -> list[Categorical]:
    """Builds categorical columns with a shared coding from plain sequences of labels.

    ``None``, NaN and the CSV missing tokens are missing; other values are labelled with
    ``str()`` (integral floats without the ``.0``).
    """
    index: dict[str, int] = {}
    out = []
    for values in arrays:
        codes = []
        for value in values:
            label = label_of(value)
            codes.append(-1 if label is None else index.setdefault(label, len(index)))
        out.append(Categorical(np.asarray(codes, dtype=np.int32), ()))
    categories = tuple(index)
    return [Categorical(c.codes, categories) for c in out]


def label_of(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, float | np.floating):
        if math.isnan(value):
            return None
        return format_number(float(value))
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = str(value)
    return None if text.strip() in MISSING_TOKENS else text


def format_number(value: float) -> str:
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(value)


def check_requested(
    p: Path, available: Sequence[str], requested: Sequence[str] | None
) -> list[str]:
    if requested is None:
        return list(available)
    present = set(available)
    for name in requested:
        if name not in present:
            raise InputError(
                f"no column named {name!r} (columns: {', '.join(available) or 'none'})",
                location=str(p),
            )
    return list(dict.fromkeys(requested))


def _parse_all(values: Sequence[str]) -> np.ndarray | None:
    """All cells as float64 (numpy parses the chunk in C), or None if any cell is not a
    number (including empty and other missing cells)."""
    try:
        return np.array(values, dtype=np.float64)
    except ValueError:
        return None


class ColumnBuilder:
    """Accumulates one column chunk by chunk, deciding its kind from the first real values."""

    def __init__(self, name: str, kind: Kind | None) -> None:
        self.name = name
        self.kind: Kind | None = kind
        self.forced = kind is not None
        self.parts: list[np.ndarray] = []
        self.index: dict[str, int] = {}
        self.undecided_rows = 0  # rows seen, all missing, before the kind was known

    # -- text input (CSV) --

    def add_text(self, values: Sequence[str], lines: Sequence[int], path: str) -> None:
        if self.kind is None:
            parsed = _parse_all(values)
            if parsed is not None and not np.isnan(parsed).all():
                # every cell is a number: numeric, and the chunk is already parsed
                self.kind = "numeric"
                self.parts.append(self._finite(parsed, values, lines, path))
                return
            self.kind = self._infer(values)
            if self.kind is None:
                self.undecided_rows += len(values)
                return
        if self.kind == "numeric":
            self.parts.append(self._numbers(values, lines, path))
        else:
            self.parts.append(self._codes(values))

    def _infer(self, values: Sequence[str]) -> Kind | None:
        present = numbers = 0
        for raw in values:
            text = raw.strip()
            if text in MISSING_TOKENS:
                continue
            present += 1
            try:
                float(text)
            except ValueError:
                continue
            numbers += 1
        if present == 0:
            return None
        return "numeric" if numbers * 2 > present else "categorical"

    def _numbers(self, values: Sequence[str], lines: Sequence[int], path: str) -> np.ndarray:
        out = _parse_all(values)
        if out is None:  # missing cells or a bad value: go cell by cell
            out = np.empty(len(values), dtype=np.float64)
            for i, raw in enumerate(values):
                text = raw.strip()
                if text in MISSING_TOKENS:
                    out[i] = np.nan
                    continue
                try:
                    out[i] = float(text)
                except ValueError:
                    # an inferred kind may be wrong; a forced one (a 0/1 label) is not
                    hint = "" if self.forced else " (declare the column categorical if it is)"
                    raise InputError(
                        f"column {self.name!r}: expected a number, got {raw!r}{hint}",
                        location=location_of(path, lines[i]),
                    ) from None
        return self._finite(out, values, lines, path)

    def _finite(
        self, out: np.ndarray, values: Sequence[str], lines: Sequence[int], path: str
    ) -> np.ndarray:
        infinite = np.flatnonzero(np.isinf(out))
        if infinite.size:
            i = int(infinite[0])
            raise InputError(
                f"column {self.name!r}: infinite value {values[i]!r} is not allowed",
                location=location_of(path, lines[i]),
            )
        return out

    def _codes(self, values: Sequence[str]) -> np.ndarray:
        index = self.index
        codes = [
            -1 if (text := raw.strip()) in MISSING_TOKENS else index.setdefault(text, len(index))
            for raw in values
        ]
        return np.asarray(codes, dtype=np.int32)

    # -- array input (Parquet batches) --

    def add_numbers(self, values: np.ndarray, where: str) -> None:
        if self.kind is None:
            self.kind = "numeric"
        if self.kind == "categorical":
            self.add_labels([None if math.isnan(v) else format_number(v) for v in values.tolist()])
            return
        bad = np.flatnonzero(np.isinf(values))
        if bad.size:
            raise InputError(
                f"column {self.name!r}: infinite value in row {int(bad[0]) + 1}", location=where
            )
        self.parts.append(values.astype(np.float64, copy=False))

    def add_labels(self, labels: Sequence[str | None]) -> None:
        if self.kind is None:
            self.kind = "categorical"
        index = self.index
        codes = [-1 if lab is None else index.setdefault(lab, len(index)) for lab in labels]
        self.parts.append(np.asarray(codes, dtype=np.int32))

    def finish(self) -> Column:
        """The column; the chunks are released as soon as they are joined, so that finishing
        the columns one after another never holds two copies of the whole table."""
        kind = self.kind or "numeric"  # an all-missing column: numeric NaNs
        parts, self.parts = self.parts, []
        if kind == "numeric":
            lead = [np.full(self.undecided_rows, np.nan)] if self.undecided_rows else []
            parts = lead + parts
            return np.concatenate(parts) if parts else np.empty(0, dtype=np.float64)
        lead = [np.full(self.undecided_rows, -1, dtype=np.int32)] if self.undecided_rows else []
        parts = lead + parts
        codes = np.concatenate(parts) if parts else np.empty(0, dtype=np.int32)
        return Categorical(codes, tuple(self.index))
