"""Reading evidence data: CSV (chunked), .npy (memory-mapped), .npz, Parquet; errors with
file and line, never tracebacks."""

from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from mlgate.errors import InputError
from mlgate.gates import csvdata
from mlgate.gates.columns import Categorical, align_categories, encode_categorical
from mlgate.gates.datafiles import list_columns, read_table


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def error_of(call, *args, **kwargs) -> str:
    with pytest.raises(InputError) as info:
        call(*args, **kwargs)
    return str(info.value)


# ---- CSV ---------------------------------------------------------------------------------


def test_csv_kinds_values_and_missing(tmp_path: Path) -> None:
    path = write(
        tmp_path / "d.csv",
        "age,region,score\n31,north,0.5\n,south,NA\n 45 , north ,1e-3\nNaN,,null\n",
    )
    table = read_table(path)
    assert table.n_rows == 4
    age = table["age"]
    assert isinstance(age, np.ndarray) and age.dtype == np.float64
    np.testing.assert_array_equal(np.isnan(age), [False, True, False, True])
    assert age[0] == 31 and age[2] == 45
    region = table["region"]
    assert isinstance(region, Categorical)
    assert region.labels() == ["north", "south", "north", None]  # whitespace stripped
    assert region.n_missing == 1
    assert table.kind("score") == "numeric"
    assert table["score"][2] == pytest.approx(1e-3)


def test_csv_quoting_bom_blank_lines_and_multiline_fields(tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    path.write_bytes(b'\xef\xbb\xbfname,comment,x\n\n"a, b","line one\nline two",1\n\nc,plain,2\n')
    table = read_table(path)
    assert list(table.columns) == ["name", "comment", "x"]  # BOM not in the first name
    assert table.n_rows == 2
    assert table["name"].labels() == ["a, b", "c"]
    assert table["comment"].labels()[0] == "line one\nline two"
    np.testing.assert_array_equal(table["x"], [1.0, 2.0])


def test_csv_requested_columns_only_and_order(tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", "a,b,c\n1,x,3\n4,y,6\n")
    table = read_table(path, columns=["c", "a"])
    assert list(table.columns) == ["c", "a"]
    np.testing.assert_array_equal(table["c"], [3.0, 6.0])
    assert list_columns(path) == ["a", "b", "c"]
    assert "no column named 'zz'" in error_of(read_table, path, columns=["zz"])
    assert "columns: c, a" in error_of(table.__getitem__, "b")


@pytest.mark.parametrize("chunk", [1, 2, 3, 1000])
def test_csv_chunking_gives_identical_columns(tmp_path: Path, monkeypatch, chunk: int) -> None:
    rows = ["v,k"] + [f"{i * 0.5},{'abc'[i % 3]}" for i in range(10)]
    path = write(tmp_path / "d.csv", "\n".join(rows) + "\n")
    monkeypatch.setattr(csvdata, "CHUNK_ROWS", chunk)
    table = read_table(path)
    np.testing.assert_array_equal(table["v"], np.arange(10) * 0.5)
    assert table["k"].labels() == ["abc"[i % 3] for i in range(10)]


def test_csv_kind_decided_by_first_chunk_with_values(tmp_path: Path, monkeypatch) -> None:
    # the first two rows are missing: the kind comes from the next chunk, the rows stay missing
    path = write(tmp_path / "d.csv", "n,c\n,\nNA,NA\n1.5,red\n2,blue\n")
    monkeypatch.setattr(csvdata, "CHUNK_ROWS", 2)
    table = read_table(path)
    n = table["n"]
    assert isinstance(n, np.ndarray)
    np.testing.assert_array_equal(np.isnan(n), [True, True, False, False])
    assert table["c"].labels() == [None, None, "red", "blue"]


def test_csv_non_number_in_numeric_column_names_file_line_and_column(tmp_path: Path) -> None:
    lines = ["age,x"] + [f"{20 + i},1" for i in range(20)]
    lines[16] = "abc,1"  # file line 17
    path = write(tmp_path / "data.csv", "\n".join(lines) + "\n")
    message = error_of(read_table, path)
    assert message.startswith(f"{path}:17: column 'age': expected a number, got 'abc'")


def test_csv_majority_text_column_is_categorical(tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", "code\nA1\nB2\n7\nC3\n")
    assert read_table(path)["code"].labels() == ["A1", "B2", "7", "C3"]


def test_csv_forced_kinds(tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", "zip,word\n01234,10\n98765,20\n")
    table = read_table(path, categorical=["zip"])
    assert table["zip"].labels() == ["01234", "98765"]  # leading zero kept as a label
    path2 = write(tmp_path / "e.csv", "word\nhello\nworld\n")
    assert f"{path2}:2: column 'word': expected a number, got 'hello'" in error_of(
        read_table, path2, numeric=["word"]
    )
    assert "both categorical and numeric" in error_of(
        read_table, path, categorical=["zip"], numeric=["zip"]
    )


def test_csv_ragged_row(tmp_path: Path) -> None:
    path = write(tmp_path / "r.csv", "a,b,c\n1,2,3\n4,5\n")
    assert error_of(read_table, path) == f"{path}:3: expected 3 fields (as in the header), got 2"
    path = write(tmp_path / "r2.csv", "a,b\n1,2,3\n")
    assert error_of(read_table, path) == f"{path}:2: expected 2 fields (as in the header), got 3"


def test_csv_infinite_value_rejected(tmp_path: Path) -> None:
    path = write(tmp_path / "i.csv", "a\n1\ninf\n")
    assert error_of(read_table, path).startswith(f"{path}:3: column 'a': infinite value 'inf'")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "empty file: expected a header row"),
        ("\n\n", "empty file: expected a header row"),
        ("a,b\n", "no data rows"),
        ("a,a\n1,2\n", ":1: duplicate column 'a' in the header"),
        ("a,,c\n1,2,3\n", ":1: header field 2 is empty"),
    ],
)
def test_csv_bad_structure(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path / "bad.csv", text)
    message = error_of(read_table, path)
    assert message.startswith(str(path)) and expected in message


def test_missing_file_directory_and_unknown_format(tmp_path: Path) -> None:
    missing = tmp_path / "nope.csv"
    assert error_of(read_table, missing) == f"{missing}: no such file"
    assert "is a directory" in error_of(read_table, tmp_path)
    other = write(tmp_path / "data.xlsx", "x")
    assert "unknown data format" in error_of(read_table, other)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes(b"name\n" + b"caf\xe9\n")
    assert "not UTF-8 text" in error_of(read_table, path)


def test_tsv_and_gzip(tmp_path: Path) -> None:
    tsv = write(tmp_path / "d.tsv", "a\tb\n1\tx,y\n")
    table = read_table(tsv)
    assert table["b"].labels() == ["x,y"]
    gz = tmp_path / "d.csv.gz"
    with gzip.open(gz, "wt", encoding="utf-8") as handle:
        handle.write("a,b\n1,2\n3,4\n")
    np.testing.assert_array_equal(read_table(gz)["b"], [2.0, 4.0])
    broken = tmp_path / "broken.csv.gz"
    broken.write_bytes(b"not gzip at all")
    assert "cannot read file" in error_of(read_table, broken)


# ---- .npy / .npz --------------------------------------------------------------------------


def test_npy_2d_generic_names_sidecar_and_explicit(tmp_path: Path) -> None:
    data = np.arange(12, dtype=np.float64).reshape(4, 3)
    path = tmp_path / "x.npy"
    np.save(path, data)
    assert list_columns(path) == ["f0", "f1", "f2"]
    table = read_table(path, columns=["f2"])
    np.testing.assert_array_equal(table["f2"], data[:, 2])
    assert table.n_rows == 4
    (tmp_path / "x.columns.txt").write_text("# features\nage\nincome, score\n")
    assert list_columns(path) == ["age", "income", "score"]
    np.testing.assert_array_equal(read_table(path)["income"], data[:, 1])
    assert list_columns(path, names=["a", "b", "c"]) == ["a", "b", "c"]  # explicit wins
    assert "--columns names 2 columns but the array has 3" in error_of(
        read_table, path, names=["a", "b"]
    )


def test_npy_column_is_a_copy_not_the_memory_map(tmp_path: Path) -> None:
    path = tmp_path / "x.npy"
    np.save(path, np.ones((5, 2)))
    column = read_table(path)["f0"]
    assert isinstance(column, np.ndarray) and not isinstance(column, np.memmap)
    assert column.flags.c_contiguous and column.flags.writeable


def test_npy_structured_1d_strings_nan_and_forced_categorical(tmp_path: Path) -> None:
    rec = np.zeros(3, dtype=[("age", "f8"), ("region", "U5"), ("n", "i4")])
    rec["age"] = [30.0, np.nan, 50.0]
    rec["region"] = ["north", "", "south"]
    rec["n"] = [1, 2, 1]
    path = tmp_path / "rec.npy"
    np.save(path, rec)
    table = read_table(path, categorical=["n"])
    assert list(table.columns) == ["age", "region", "n"]
    assert np.isnan(table["age"][1])
    assert table["region"].labels() == ["north", None, "south"]
    assert table["n"].labels() == ["1", "2", "1"]
    single = tmp_path / "one.npy"
    np.save(single, np.array([1.0, 2.0]))
    assert list(read_table(single).columns) == ["f0"]


def test_npy_refuses_pickles_and_bad_shapes(tmp_path: Path) -> None:
    path = tmp_path / "obj.npy"
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    assert "not a usable .npy array" in error_of(read_table, path)
    cube = tmp_path / "cube.npy"
    np.save(cube, np.zeros((2, 2, 2)))
    assert "expected a 1-D or 2-D array" in error_of(read_table, cube)
    inf = tmp_path / "inf.npy"
    np.save(inf, np.array([[1.0], [np.inf]]))
    assert "column 'f0': infinite value in row 1" in error_of(read_table, inf)
    empty = tmp_path / "empty.npy"
    np.save(empty, np.zeros((0, 2)))
    assert "no data rows" in error_of(read_table, empty)


def test_npz_columns_by_key(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    np.savez(path, age=np.array([1.0, 2.0]), region=np.array(["a", "b"]))
    table = read_table(path)
    assert list_columns(path) == ["age", "region"]
    np.testing.assert_array_equal(table["age"], [1.0, 2.0])
    assert table["region"].labels() == ["a", "b"]
    bad = tmp_path / "bad.npz"
    np.savez(bad, a=np.zeros(2), b=np.zeros(3))
    assert "member 'b' has 3 rows, expected 2" in error_of(read_table, bad)
    flat = tmp_path / "flat.npz"
    np.savez(flat, m=np.zeros((2, 2)))
    assert "one 1-D array per column" in error_of(read_table, flat)


# ---- Parquet --------------------------------------------------------------------------------


@pytest.mark.skipif(importlib.util.find_spec("pyarrow") is not None, reason="pyarrow installed")
def test_parquet_without_pyarrow_names_file_and_package(tmp_path: Path) -> None:
    path = tmp_path / "d.parquet"
    path.write_bytes(b"PAR1")
    message = error_of(read_table, path)
    assert message.startswith(f"{path}: reading Parquet needs the optional 'pyarrow' package")


@pytest.mark.skipif(importlib.util.find_spec("pyarrow") is None, reason="pyarrow not installed")
def test_parquet_with_pyarrow(tmp_path: Path) -> None:  # pragma: no cover - optional
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"x": [1.0, None, 3.0], "g": ["a", None, "b"]}), path)
    table = read_table(path)
    assert np.isnan(table["x"][1]) and table["g"].labels() == ["a", None, "b"]


# ---- categorical helpers --------------------------------------------------------------------


def test_align_and_encode_categories() -> None:
    a = Categorical(np.array([0, 1, -1], dtype=np.int32), ("x", "y"))
    b = Categorical(np.array([0, 1, 0], dtype=np.int32), ("z", "x"))
    a2, b2 = align_categories(a, b)
    assert a2.categories == b2.categories == ("x", "y", "z")
    assert a2.labels() == ["x", "y", None]
    assert b2.labels() == ["z", "x", "z"]
    c, d = encode_categorical(["u", None, 1.0, float("nan")], ["v", "u", "NA"])
    assert c.categories == d.categories == ("u", "1", "v")
    assert c.labels() == ["u", None, "1", None] and d.labels() == ["v", "u", None]
