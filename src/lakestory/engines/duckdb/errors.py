"""Translate DuckDB's exceptions into lakestory errors that name the file, line and column."""

from __future__ import annotations

import re

import duckdb

from lakestory.core.errors import DataError, LakestoryError, SqlError, Where

_LINE = re.compile(r"CSV Error on Line: (\d+)")
_FILE = re.compile(r"^\s*file = (.+)$", re.M)
_ORIGINAL = re.compile(r"Original Line: (.*)")
_COLUMN = re.compile(r'converting column "([^"]+)"')
_COUNTS = re.compile(r"Expected Number of Columns: (\d+) Found: (\d+)")
_CONVERT = re.compile(r'Could not convert string "([^"]*)" to \'([^\']+)\'')


def csv_error(exc: duckdb.Error, files: list[str]) -> LakestoryError:
    text = str(exc)
    line = _int(_LINE.search(text))
    file_m = _FILE.search(text)
    file = file_m.group(1).strip() if file_m else (files[0] if len(files) == 1 else None)
    original = _ORIGINAL.search(text)
    detail = f"line {line}: {original.group(1)}" if original and line else None
    where = Where(file=file, line=line)
    if counts := _COUNTS.search(text):
        return DataError(
            f"malformed CSV row: expected {counts.group(1)} fields, found {counts.group(2)}",
            where=where, detail=detail,
            hint="fix the row, or quote fields that contain the delimiter; "
            "no row is dropped silently",
        )
    if "unterminated quote" in text:
        return DataError("malformed CSV row: a quoted value is never closed",
                         where=where, detail=detail,
                         hint="close the quote, or double a quote inside a quoted value (\"\")")
    if column := _COLUMN.search(text):
        conv = _CONVERT.search(text)
        value = f"'{conv.group(1)}' " if conv else ""
        typ = conv.group(2) if conv else "its declared type"
        return DataError(
            f"value {value}in column '{column.group(1)}' does not parse as {typ}",
            where=Where(file=file, line=line, key=f"column {column.group(1)}"), detail=detail,
            hint="fix the value, or change the column's type in `read.schema`",
        )
    return DataError(f"cannot read CSV: {_first_line(text)}", where=where, detail=detail)


def data_error(exc: duckdb.Error, what: str, files: list[str]) -> LakestoryError:
    file = files[0] if len(files) == 1 else None
    return DataError(f"{what}: {_first_line(str(exc))}", where=Where(file=file))


def sql_error(exc: duckdb.Error) -> SqlError:
    text = str(exc)
    message = _first_line(text)
    message = re.sub(r"^(Binder|Parser|Catalog|Conversion|Invalid Input|Out of Range) Error: ",
                     "", message)
    return SqlError(message)


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text


def _int(m: re.Match[str] | None) -> int | None:
    return int(m.group(1)) if m else None
