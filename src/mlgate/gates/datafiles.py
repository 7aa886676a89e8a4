"""Reading tabular evidence data: CSV/TSV (optionally gzipped), ``.npy``, ``.npz``, Parquet.

Every column comes back as one of two things:

- numeric: a float64 array; a missing cell is NaN;
- categorical: a :class:`Categorical` (int32 codes, ``-1`` for a missing cell, plus labels).

Rules, stated once so that users and tests can rely on them:

- **Missing cells.** CSV cells that are empty or one of ``MISSING_TOKENS`` (``NA``, ``N/A``,
  ``NaN``, ``nan``, ``null``, ``NULL``, ``None``) are missing, as are NaN in binary formats
  and Parquet nulls. Statistics skip missing cells and report how many they skipped.
- **Infinite numbers** (``inf``, ``-Infinity``) are an input error: no statistic here has a
  sensible meaning for them, and they are nearly always an upstream bug.
- **Column kinds.** A column named in ``categorical`` is categorical, one named in
  ``numeric`` is numeric; any other column is numeric when more than half of the non-missing
  cells of the first chunk that has any are numbers, else categorical. In a numeric column
  every other non-missing cell must be a number: ``data.csv:17: column 'age': expected a
  number, got 'abc'``. Binary formats take the kind from the dtype (numbers are numeric,
  strings categorical).
- **CSV** must have a header row; rows must have as many fields as the header; blank lines are
  skipped. ``.tsv``/``.tab`` files are tab-separated. A ``.gz`` suffix is decompressed. The file
  is read in chunks of ``CHUNK_ROWS`` rows and only the requested columns are converted, so
  memory holds the result arrays plus one chunk of text.
- **.npy** is opened with ``mmap_mode='r'`` and converted one requested column at a time. A
  structured array names its columns by field; a 2-D array takes its names, in this order,
  from the ``names`` argument (``mlgate gate --columns``), a sidecar file next to the data
  (``data.npy`` -> ``data.columns.txt``: names separated by newlines or commas, ``#``
  comments), or else ``f0 .. f{k-1}``. A 1-D array is one column (default name ``f0``).
  Object (pickled) arrays are refused.
- **.npz** holds one 1-D array per column, named by its key; arrays load one at a time.
- **Parquet** needs the optional ``pyarrow`` package (not a dependency of mlgate); without it
  the error names the file and the package to install.

Errors are :class:`mlgate.errors.InputError` carrying ``file:line`` (CSV) or ``file`` plus
the row index (binary formats), never a traceback.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
import os
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TextIO

import numpy as np

from mlgate.errors import InputError, location_of

MISSING_TOKENS = frozenset({"", "NA", "N/A", "NaN", "nan", "null", "NULL", "None"})
CHUNK_ROWS = 16_384
SIDECAR_SUFFIX = ".columns.txt"

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


# --------------------------------------------------------------------------------------------
# public entry points


def list_columns(path: str | os.PathLike[str], *, names: Sequence[str] | None = None) -> list[str]:
    """The column names of a data file, without reading its data."""
    p = _existing(path)
    fmt = _format_of(p)
    if fmt == "csv":
        with _open_text(p) as handle:
            header, _ = _read_header(csv.reader(handle, delimiter=_delimiter(p)), str(p))
        return header
    if fmt == "npy":
        array = _load_npy(p)
        return _npy_names(p, array, names)
    if fmt == "npz":
        with _load_npz(p) as archive:
            return list(archive.files)
    return list(_parquet_file(p).schema_arrow.names)


def read_table(
    path: str | os.PathLike[str],
    *,
    columns: Sequence[str] | None = None,
    categorical: Collection[str] = (),
    numeric: Collection[str] = (),
    names: Sequence[str] | None = None,
) -> Table:
    """Reads ``columns`` (default: all) of a data file. See the module docstring for the rules.

    ``categorical``/``numeric`` force a column's kind (names not read are ignored);
    ``names`` names the columns of a plain 2-D ``.npy`` array.
    """
    p = _existing(path)
    clash = set(categorical) & set(numeric)
    if clash:
        raise InputError(
            f"column {sorted(clash)[0]!r} cannot be both categorical and numeric", location=str(p)
        )
    forced: dict[str, Kind] = {name: "categorical" for name in categorical}
    forced.update({name: "numeric" for name in numeric})
    fmt = _format_of(p)
    if fmt == "csv":
        table = _read_csv(p, columns, forced)
    elif fmt == "npy":
        table = _read_npy(p, columns, forced, names)
    elif fmt == "npz":
        table = _read_npz(p, columns, forced)
    else:
        table = _read_parquet(p, columns, forced)
    if table.n_rows == 0:
        raise InputError("no data rows", location=str(p))
    return table


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
            label = _label(value)
            codes.append(-1 if label is None else index.setdefault(label, len(index)))
        out.append(Categorical(np.asarray(codes, dtype=np.int32), ()))
    categories = tuple(index)
    return [Categorical(c.codes, categories) for c in out]


# --------------------------------------------------------------------------------------------
# shared helpers


def _existing(path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    if not p.exists():
        raise InputError("no such file", location=str(p))
    if p.is_dir():
        raise InputError("is a directory, expected a data file", location=str(p))
    if not os.access(p, os.R_OK):
        raise InputError("permission denied", location=str(p))
    return p


def _format_of(p: Path) -> str:
    suffixes = [s.lower() for s in p.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    last = suffixes[-1] if suffixes else ""
    if last in (".csv", ".tsv", ".tab", ".txt"):
        return "csv"
    if last == ".npy":
        return "npy"
    if last == ".npz":
        return "npz"
    if last in (".parquet", ".pq"):
        return "parquet"
    raise InputError(
        "unknown data format (expected .csv, .tsv, .npy, .npz or .parquet)", location=str(p)
    )


def _label(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, float | np.floating):
        if math.isnan(value):
            return None
        return _format_number(float(value))
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = str(value)
    return None if text.strip() in MISSING_TOKENS else text


def _format_number(value: float) -> str:
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(value)


def _check_requested(
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


class _ColumnBuilder:
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
            self.add_labels([None if math.isnan(v) else _format_number(v) for v in values.tolist()])
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


# --------------------------------------------------------------------------------------------
# CSV


def _delimiter(p: Path) -> str:
    suffixes = [s.lower() for s in p.suffixes if s.lower() != ".gz"]
    return "\t" if suffixes and suffixes[-1] in (".tsv", ".tab") else ","


def _open_text(p: Path) -> TextIO:
    # utf-8-sig: spreadsheets often write a byte-order mark before the header.
    if p.suffix.lower() == ".gz":
        return io.TextIOWrapper(gzip.open(p, "rb"), encoding="utf-8-sig", newline="")
    return open(p, encoding="utf-8-sig", newline="")


def _rows(reader: Iterator[list[str]], path: str) -> Iterator[list[str]]:
    """Rows with file-level errors turned into InputError with the line they happened on."""
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            line = reader.line_num  # type: ignore[attr-defined]
            raise InputError(f"malformed CSV: {err}", location=location_of(path, line)) from None
        except UnicodeDecodeError:
            line = reader.line_num + 1  # type: ignore[attr-defined]
            raise InputError("not UTF-8 text", location=location_of(path, line)) from None
        except (OSError, EOFError) as err:  # truncated or corrupt .gz
            raise InputError(f"cannot read file: {err}", location=path) from None
        yield row


def _read_header(reader: Iterator[list[str]], path: str) -> tuple[list[str], Iterator[list[str]]]:
    rows = _rows(reader, path)
    for row in rows:
        if not row:
            continue  # leading blank lines
        header = [cell.strip() for cell in row]
        line = reader.line_num  # type: ignore[attr-defined]
        seen: set[str] = set()
        for i, name in enumerate(header):
            if not name:
                raise InputError(f"header field {i + 1} is empty", location=location_of(path, line))
            if name in seen:
                raise InputError(
                    f"duplicate column {name!r} in the header", location=location_of(path, line)
                )
            seen.add(name)
        return header, rows
    raise InputError("empty file: expected a header row", location=path)


def _read_csv(p: Path, requested: Sequence[str] | None, forced: dict[str, Kind]) -> Table:
    path = str(p)
    with _open_text(p) as handle:
        reader = csv.reader(handle, delimiter=_delimiter(p))
        header, rows = _read_header(reader, path)
        wanted = _check_requested(p, header, requested)
        positions = [header.index(name) for name in wanted]
        builders = [_ColumnBuilder(name, forced.get(name)) for name in wanted]
        width = len(header)
        n_rows = 0
        chunk: list[list[str]] = []
        lines: list[int] = []

        def flush() -> None:
            if not chunk:
                return
            # zip(*rows) transposes the chunk in C; keep only the requested columns.
            transposed = list(zip(*chunk, strict=True))
            for builder, pos in zip(builders, positions, strict=True):
                builder.add_text(transposed[pos], lines, path)
            chunk.clear()
            lines.clear()

        for row in rows:
            if not row:
                continue  # blank line
            if len(row) != width:
                raise InputError(
                    f"expected {width} fields (as in the header), got {len(row)}",
                    location=location_of(path, reader.line_num),
                )
            chunk.append(row)
            lines.append(reader.line_num)
            n_rows += 1
            if len(chunk) >= CHUNK_ROWS:
                flush()
        flush()
    columns = {}
    for builder in builders:
        columns[builder.name] = builder.finish()
    return Table(path, columns, n_rows)


# --------------------------------------------------------------------------------------------
# .npy / .npz


def _load_npy(p: Path) -> np.ndarray:
    try:
        array: np.ndarray = np.load(p, mmap_mode="r", allow_pickle=False)
        return array
    except ValueError as err:
        # numpy says "Object arrays cannot be loaded when allow_pickle=False" for pickles.
        raise InputError(f"not a usable .npy array: {err}", location=str(p)) from None
    except (OSError, EOFError) as err:
        raise InputError(f"cannot read .npy file: {err}", location=str(p)) from None


def _load_npz(p: Path) -> np.lib.npyio.NpzFile:
    try:
        archive: np.lib.npyio.NpzFile = np.load(p, allow_pickle=False)
        return archive
    except (ValueError, OSError, EOFError) as err:
        raise InputError(f"cannot read .npz file: {err}", location=str(p)) from None


def _sidecar_names(p: Path) -> list[str] | None:
    sidecar = p.with_suffix(SIDECAR_SUFFIX)
    if not sidecar.is_file():
        return None
    names: list[str] = []
    for line in sidecar.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0]
        names.extend(part.strip() for part in line.split(",") if part.strip())
    return names


def _npy_names(p: Path, array: np.ndarray, names: Sequence[str] | None) -> list[str]:
    if array.dtype.names:
        width = len(array.dtype.names)
        default = list(array.dtype.names)
    elif array.ndim == 1:
        width, default = 1, ["f0"]
    elif array.ndim == 2:
        width = array.shape[1]
        default = [f"f{i}" for i in range(width)]
    else:
        raise InputError(
            f"expected a 1-D or 2-D array (rows x columns), got {array.ndim}-D", location=str(p)
        )
    source = "--columns"
    chosen = list(names) if names else None
    if chosen is None and not array.dtype.names:
        chosen = _sidecar_names(p)
        source = str(p.with_suffix(SIDECAR_SUFFIX))
    if chosen is None:
        return default
    if len(chosen) != width:
        raise InputError(
            f"{source} names {len(chosen)} columns but the array has {width}", location=str(p)
        )
    if len(set(chosen)) != len(chosen):
        raise InputError(f"{source} repeats a column name", location=str(p))
    return chosen


def _array_column(name: str, values: np.ndarray, kind: Kind | None, where: str) -> Column:
    """Converts one column of a binary array, honouring a forced kind."""
    dtype = values.dtype
    if dtype.kind in "biuf":
        if kind == "categorical":
            floats = np.asarray(values, dtype=np.float64)
            present = ~np.isnan(floats)
            uniques, inverse = np.unique(floats[present], return_inverse=True)
            codes = np.full(floats.shape[0], -1, dtype=np.int32)
            codes[present] = inverse
            return Categorical(codes, tuple(_format_number(float(u)) for u in uniques))
        out = np.array(values, dtype=np.float64)  # copy: never hand out the memory map
        bad = np.flatnonzero(np.isinf(out))
        if bad.size:
            raise InputError(
                f"column {name!r}: infinite value in row {int(bad[0])}", location=where
            )
        return out
    if dtype.kind in "US":
        labels = [_label(v) for v in values.tolist()]
        if kind == "numeric":
            out = np.empty(len(labels), dtype=np.float64)
            for i, lab in enumerate(labels):
                if lab is None:
                    out[i] = np.nan
                    continue
                try:
                    out[i] = float(lab)
                except ValueError:
                    raise InputError(
                        f"column {name!r}: expected a number, got {lab!r} in row {i}",
                        location=where,
                    ) from None
                if math.isinf(out[i]):
                    raise InputError(f"column {name!r}: infinite value in row {i}", location=where)
            return out
        (column,) = encode_categorical(labels)
        return column
    raise InputError(
        f"column {name!r}: unsupported dtype {dtype} (expected numbers or strings)",
        location=where,
    )


def _read_npy(
    p: Path, requested: Sequence[str] | None, forced: dict[str, Kind], names: Sequence[str] | None
) -> Table:
    array = _load_npy(p)
    all_names = _npy_names(p, array, names)
    wanted = _check_requested(p, all_names, requested)
    where = str(p)
    columns: dict[str, Column] = {}
    for name in wanted:
        j = all_names.index(name)
        if array.dtype.names:
            values = array[array.dtype.names[j]]
        elif array.ndim == 1:
            values = array
        else:
            values = array[:, j]
        columns[name] = _array_column(name, values, forced.get(name), where)
    n_rows = int(array.shape[0])
    return Table(where, columns, n_rows)


def _read_npz(p: Path, requested: Sequence[str] | None, forced: dict[str, Kind]) -> Table:
    where = str(p)
    with _load_npz(p) as archive:
        wanted = _check_requested(p, list(archive.files), requested)
        columns: dict[str, Column] = {}
        n_rows: int | None = None
        for name in wanted:
            try:
                values = archive[name]
            except ValueError as err:  # pickled member
                raise InputError(f"member {name!r}: {err}", location=where) from None
            if values.ndim != 1:
                raise InputError(
                    f"member {name!r} is {values.ndim}-D; .npz files hold one 1-D array per column",
                    location=where,
                )
            if n_rows is None:
                n_rows = int(values.shape[0])
            elif values.shape[0] != n_rows:
                raise InputError(
                    f"member {name!r} has {values.shape[0]} rows, expected {n_rows}",
                    location=where,
                )
            columns[name] = _array_column(name, values, forced.get(name), where)
    return Table(where, columns, n_rows or 0)


# --------------------------------------------------------------------------------------------
# Parquet (optional pyarrow)


def _parquet_file(p: Path) -> Any:  # a pyarrow ParquetFile; pyarrow is optional
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise InputError(
            "reading Parquet needs the optional 'pyarrow' package (pip install pyarrow), "
            "or convert the file to CSV or .npy",
            location=str(p),
        ) from None
    try:
        return pq.ParquetFile(p)
    except Exception as err:  # pyarrow raises its own ArrowInvalid/OSError family
        raise InputError(f"cannot read Parquet file: {err}", location=str(p)) from None


def _read_parquet(p: Path, requested: Sequence[str] | None, forced: dict[str, Kind]) -> Table:
    where = str(p)
    parquet = _parquet_file(p)  # first: it turns a missing pyarrow into an InputError
    import pyarrow as pa

    schema = parquet.schema_arrow
    wanted = _check_requested(p, list(schema.names), requested)
    builders = {name: _ColumnBuilder(name, forced.get(name)) for name in wanted}
    n_rows = 0
    try:
        batches = parquet.iter_batches(batch_size=CHUNK_ROWS, columns=wanted)
        for batch in batches:
            for name in wanted:
                column = batch.column(name)
                kind = column.type
                builder = builders[name]
                if pa.types.is_dictionary(kind):
                    column = column.dictionary_decode()
                    kind = column.type
                if (
                    pa.types.is_integer(kind)
                    or pa.types.is_floating(kind)
                    or pa.types.is_boolean(kind)
                ):
                    numbers = column.cast(pa.float64()).to_numpy(zero_copy_only=False)
                    builder.add_numbers(np.asarray(numbers, dtype=np.float64), where)
                elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
                    labels = [_label(v) for v in column.to_pylist()]
                    if builder.kind == "numeric":
                        builder.add_text(
                            ["" if v is None else v for v in labels],
                            [n_rows + i + 1 for i in range(len(labels))],
                            where,
                        )
                    else:
                        builder.add_labels(labels)
                else:
                    raise InputError(
                        f"column {name!r}: unsupported Parquet type {kind}", location=where
                    )
            n_rows += batch.num_rows
    except InputError:
        raise
    except Exception as err:
        raise InputError(f"cannot read Parquet file: {err}", location=where) from None
    return Table(where, {name: b.finish() for name, b in builders.items()}, n_rows)
