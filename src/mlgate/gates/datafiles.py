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
import os
from collections.abc import Collection, Sequence
from pathlib import Path

from mlgate.errors import InputError
from mlgate.gates.arraydata import (
    load_npy,
    load_npz,
    npy_names,
    parquet_file,
    read_npy,
    read_npz,
    read_parquet,
)
from mlgate.gates.columns import Kind, Table
from mlgate.gates.csvdata import delimiter, open_text, read_csv, read_header


def list_columns(path: str | os.PathLike[str], *, names: Sequence[str] | None = None) -> list[str]:
    """The column names of a data file, without reading its data."""
    p = _existing(path)
    fmt = _format_of(p)
    if fmt == "csv":
        with open_text(p) as handle:
            header, _ = read_header(csv.reader(handle, delimiter=delimiter(p)), str(p))
        return header
    if fmt == "npy":
        array = load_npy(p)
        return npy_names(p, array, names)
    if fmt == "npz":
        with load_npz(p) as archive:
            return list(archive.files)
    return list(parquet_file(p).schema_arrow.names)


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
        table = read_csv(p, columns, forced)
    elif fmt == "npy":
        table = read_npy(p, columns, forced, names)
    elif fmt == "npz":
        table = read_npz(p, columns, forced)
    else:
        table = read_parquet(p, columns, forced)
    if table.n_rows == 0:
        raise InputError("no data rows", location=str(p))
    return table


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
