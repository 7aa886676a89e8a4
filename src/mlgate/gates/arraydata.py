"""Binary evidence data: ``.npy`` (memory-mapped), ``.npz`` and Parquet (optional pyarrow).

Column kinds come from the dtype (numbers numeric, strings categorical); naming rules for plain
2-D arrays and the sidecar ``.columns.txt`` file are in :mod:`mlgate.gates.datafiles`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mlgate.errors import InputError
from mlgate.gates.columns import (
    CHUNK_ROWS,
    Categorical,
    Column,
    ColumnBuilder,
    Kind,
    Table,
    check_requested,
    encode_categorical,
    format_number,
    label_of,
)

SIDECAR_SUFFIX = ".columns.txt"


def load_npy(p: Path) -> np.ndarray:
    try:
        array: np.ndarray = np.load(p, mmap_mode="r", allow_pickle=False)
        return array
    except ValueError as err:
        # numpy says "Object arrays cannot be loaded when allow_pickle=False" for pickles.
        raise InputError(f"not a usable .npy array: {err}", location=str(p)) from None
    except (OSError, EOFError) as err:
        raise InputError(f"cannot read .npy file: {err}", location=str(p)) from None


def load_npz(p: Path) -> np.lib.npyio.NpzFile:
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


def npy_names(p: Path, array: np.ndarray, names: Sequence[str] | None) -> list[str]:
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
            return Categorical(codes, tuple(format_number(float(u)) for u in uniques))
        out = np.array(values, dtype=np.float64)  # copy: never hand out the memory map
        bad = np.flatnonzero(np.isinf(out))
        if bad.size:
            raise InputError(
                f"column {name!r}: infinite value in row {int(bad[0])}", location=where
            )
        return out
    if dtype.kind in "US":
        labels = [label_of(v) for v in values.tolist()]
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


def read_npy(
    p: Path, requested: Sequence[str] | None, forced: dict[str, Kind], names: Sequence[str] | None
) -> Table:
    array = load_npy(p)
    all_names = npy_names(p, array, names)
    wanted = check_requested(p, all_names, requested)
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


def read_npz(p: Path, requested: Sequence[str] | None, forced: dict[str, Kind]) -> Table:
    where = str(p)
    with load_npz(p) as archive:
        wanted = check_requested(p, list(archive.files), requested)
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


def parquet_file(p: Path) -> Any:  # a pyarrow ParquetFile; pyarrow is optional
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


def read_parquet(p: Path, requested: Sequence[str] | None, forced: dict[str, Kind]) -> Table:
    where = str(p)
    parquet = parquet_file(p)  # first: it turns a missing pyarrow into an InputError
    import pyarrow as pa

    schema = parquet.schema_arrow
    wanted = check_requested(p, list(schema.names), requested)
    builders = {name: ColumnBuilder(name, forced.get(name)) for name in wanted}
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
                    labels = [label_of(v) for v in column.to_pylist()]
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
