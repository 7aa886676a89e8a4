"""CSV/TSV evidence data (optionally gzipped), read in chunks of ``CHUNK_ROWS`` rows.

Only the requested columns are converted, so memory holds the result arrays plus one chunk of
text; the kind of an unforced column is decided on its first chunk with real values (rules in
:mod:`mlgate.gates.datafiles`). Errors carry ``file:line``.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TextIO

from mlgate.errors import InputError, location_of
from mlgate.gates.columns import (
    CHUNK_ROWS,
    ColumnBuilder,
    Kind,
    Table,
    check_requested,
)


def delimiter(p: Path) -> str:
    suffixes = [s.lower() for s in p.suffixes if s.lower() != ".gz"]
    return "\t" if suffixes and suffixes[-1] in (".tsv", ".tab") else ","


def open_text(p: Path) -> TextIO:
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


def read_header(reader: Iterator[list[str]], path: str) -> tuple[list[str], Iterator[list[str]]]:
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


def read_csv(p: Path, requested: Sequence[str] | None, forced: dict[str, Kind]) -> Table:
    path = str(p)
    with open_text(p) as handle:
        reader = csv.reader(handle, delimiter=delimiter(p))
        header, rows = read_header(reader, path)
        wanted = check_requested(p, header, requested)
        positions = [header.index(name) for name in wanted]
        builders = [ColumnBuilder(name, forced.get(name)) for name in wanted]
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
