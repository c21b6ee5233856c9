"""Reading CSV strictly on DuckDB: quoting, options, inferred types, and what errors say."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from lakestory.core.errors import ConfigError, DataError, Where
from lakestory.engines.duckdb.engine import DuckDBEngine
from lakestory.io import formats, local
from lakestory.io.specs import Source


@pytest.fixture
def engine() -> Iterator[DuckDBEngine]:
    eng = DuckDBEngine()
    yield eng
    eng.close()


Read = Callable[..., tuple[dict[str, str], list[dict[str, Any]]]]


@pytest.fixture
def read(engine: DuckDBEngine, tmp_path: Path) -> Read:
    """``read(text, **options)``: the inferred column types and the rows of a CSV file."""
    counter = iter(range(1000))

    def go(
        text: str | bytes,
        schema: dict[str, str] | None = None,
        name: str = "in.csv",
        **options: Any,
    ) -> tuple[dict[str, str], list[dict[str, Any]]]:
        path = tmp_path / name
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
        loc = local.location("raw", ".", tmp_path, name)
        opts = formats.normalize_options("csv", options, write=False, where=Where())
        frame, rows = engine.read(Source(loc, "csv", opts, schema), f"t{next(counter)}")
        types = {c.name: c.type for c in engine.schema(frame)}
        data = pa.table(engine.native(frame)).to_pylist()
        assert rows == len(data)
        return types, data

    return go


def test_quoted_delimiters_and_doubled_quotes(read: Read) -> None:
    text = 'id,name,note\n1,"Smith, Jane","she said ""hi"""\n2,plain,"multi\nline"\n'
    _, rows = read(text)
    assert rows == [
        {"id": 1, "name": "Smith, Jane", "note": 'she said "hi"'},
        {"id": 2, "name": "plain", "note": "multi\nline"},
    ]


def test_empty_fields_are_null_and_quoted_empty_is_too(read: Read) -> None:
    _, rows = read('a,b\n1,\n,""\n')
    assert rows == [{"a": 1, "b": None}, {"a": None, "b": None}]


def test_other_delimiter_quote_and_spark_option_names(read: Read) -> None:
    text = "id;label\n1;'x;y'\n2;NA\n"
    _, rows = read(text, sep=";", quote="'", nullValue="NA")
    assert rows == [{"id": 1, "label": "x;y"}, {"id": 2, "label": None}]


def test_an_unknown_option_suggests_a_known_one(read: Read) -> None:
    with pytest.raises(ConfigError, match="unknown csv read option 'delimeter'") as err:
        read("a\n1\n", delimeter=";")
    assert err.value.hint == "did you mean 'delimiter'?"


def test_skip_rows_and_no_header(read: Read) -> None:
    types, rows = read("junk line\n1,a\n2,b\n", header=False, skip_rows=1)
    assert list(types) == ["_c0", "_c1"]
    assert rows == [{"_c0": 1, "_c1": "a"}, {"_c0": 2, "_c1": "b"}]


def test_skip_rows_before_a_header(read: Read) -> None:
    _, rows = read("exported by tool\n\nid,name\n1,a\n", skip_rows=2)
    assert rows == [{"id": 1, "name": "a"}]


def test_latin1_encoding(read: Read) -> None:
    _, rows = read("id,name\n1,caf\xe9\n".encode("latin-1"), encoding="latin-1")
    assert rows == [{"id": 1, "name": "café"}]


# --------------------------------------------------------------------- type inference

TYPES = """\
i,big,dbl,exp,flag,day,ts,zip,text,empty,mixed
1,3000000000,1.5,1e3,true,2024-01-31,2024-01-31 10:00:00,007,abc,,1
-2,4000000000,2,2.5E-2,FALSE,2024-02-29,2024-02-29T23:59:59.123456,010,"x, y",,a
+3,5,.5,-1,True,2023-12-01,2023-12-01 00:00,123,z,,2
"""


def test_inferred_types(read: Read) -> None:
    types, rows = read(TYPES)
    assert types == {
        "i": "INTEGER",
        "big": "BIGINT",
        "dbl": "DOUBLE",
        "exp": "DOUBLE",
        "flag": "BOOLEAN",
        "day": "DATE",
        "ts": "TIMESTAMP",  # a naive timestamp (not TIMESTAMPTZ), pinned as it is
        "zip": "INTEGER",  # leading zeros are not kept, as with Spark's inferSchema
        "text": "VARCHAR",
        "empty": "VARCHAR",
        "mixed": "VARCHAR",
    }
    first, second, third = rows
    assert (first["i"], second["i"], third["i"]) == (1, -2, 3)
    assert (first["zip"], second["zip"]) == (7, 10)
    assert (first["flag"], second["flag"], third["flag"]) == (True, False, True)
    assert second["day"] == date(2024, 2, 29)
    assert second["ts"] == datetime(2024, 2, 29, 23, 59, 59, 123456)
    assert third["ts"] == datetime(2023, 12, 1, 0, 0)
    assert (first["exp"], second["exp"], third["dbl"]) == (1000.0, 0.025, 0.5)
    assert first["empty"] is None


def test_every_row_decides_the_type(read: Read) -> None:
    # a value far down the file that is not a number keeps the column a string
    types, rows = read("n\n" + "1\n" * 5000 + "n/a\n")
    assert types == {"n": "VARCHAR"}
    assert rows[-1] == {"n": "n/a"}


def test_an_impossible_date_stays_a_string(read: Read) -> None:
    types, _ = read("day\n2024-02-30\n")
    assert types == {"day": "VARCHAR"}


def test_declared_types_win(read: Read) -> None:
    types, rows = read(
        "zip,amount\n007,1.50\n", schema={"zip": "string", "amount": "decimal(10,2)"}
    )
    assert types == {"zip": "VARCHAR", "amount": "DECIMAL(10,2)"}
    assert rows == [{"zip": "007", "amount": pytest.approx(1.5)}]


def test_inference_can_be_turned_off(read: Read) -> None:
    types, _ = read("a,b\n1,2024-01-01\n", inferSchema=False)
    assert types == {"a": "VARCHAR", "b": "VARCHAR"}


# ------------------------------------------------------------------------- problems


def test_a_multi_line_value_does_not_shift_line_numbers(read: Read) -> None:
    text = 'id,note,amount\n1,"one\ntwo\nthree",10\n2,ok,2x0\n'
    with pytest.raises(DataError) as err:
        read(text, schema={"amount": "int"})
    assert (err.value.where.line, err.value.where.column) == (5, 6)
    assert err.value.detail == "line 5: 2,ok,2x0"
    assert err.value.what == "value '2x0' in column 'amount' does not parse as int"


def test_a_bad_row_after_skipped_lines(read: Read) -> None:
    with pytest.raises(DataError) as err:
        read("# exported\nid,amount\n1,10\n\n2,20,30\n", skip_rows=1)
    assert err.value.where.line == 5
    assert err.value.what == "malformed CSV row: expected 2 fields, found 3"


def test_too_few_fields(read: Read) -> None:
    with pytest.raises(DataError, match="expected 3 fields, found 2") as err:
        read("a,b,c\n1,2,3\n4,5\n")
    assert err.value.where.line == 3


def test_a_schema_naming_a_missing_column(read: Read) -> None:
    with pytest.raises(DataError, match=r"read\.schema names columns not in the file: amuont"):
        read("id,amount\n1,2\n", schema={"amuont": "int"})


def test_files_read_together_must_share_a_header(engine: DuckDBEngine, tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.csv").write_text("id,amount\n1,2\n")
    (tmp_path / "in" / "b.csv").write_text("id,total\n1,2\n")
    loc = local.location("raw", ".", tmp_path, "in/")
    with pytest.raises(DataError, match="CSV header differs") as err:
        engine.read(Source(loc, "csv", {}, None), "t")
    assert err.value.where.file == str(tmp_path / "in" / "b.csv")


def test_a_folder_reads_every_csv_file_but_hidden_ones(
    engine: DuckDBEngine, tmp_path: Path
) -> None:
    (tmp_path / "in" / "sub").mkdir(parents=True)
    (tmp_path / "in" / "a.csv").write_text("id\n1\n")
    (tmp_path / "in" / "sub" / "b.csv").write_text("id\n2\n")
    (tmp_path / "in" / "_skip.csv").write_text("id\n3\n")
    (tmp_path / "in" / "notes.txt").write_text("id\n4\n")  # .txt counts as CSV too
    loc = local.location("raw", ".", tmp_path, "in/")
    frame, rows = engine.read(Source(loc, "csv", {}, None), "t")
    assert rows == 3
    assert sorted(r["id"] for r in pa.table(engine.native(frame)).to_pylist()) == [1, 2, 4]


@pytest.mark.parametrize(
    ("path", "hint"),
    [
        ("in/ordres.csv", "did you mean 'orders.csv'?"),
        ("nowhere/orders.csv", "does not exist"),
        ("in/*.parquet.csv", "no file matches the pattern"),
        ("empty/", "the folder holds no csv files"),
    ],
)
def test_missing_input_hints(engine: DuckDBEngine, tmp_path: Path, path: str, hint: str) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "empty").mkdir()
    (tmp_path / "in" / "orders.csv").write_text("id\n1\n")
    loc = local.location("raw", ".", tmp_path, path)
    with pytest.raises(DataError, match="input not found: raw:") as err:
        engine.read(Source(loc, "csv", {}, None), "t")
    assert hint in (err.value.hint or "")
