"""Translate DuckDB's exceptions into lakestory errors that name the file, line and column."""

from __future__ import annotations

import re

import duckdb

from lakestory.core.errors import DataError, LakestoryError, SqlError, StepError, Where, WriteError
from lakestory.core.text import suggestion
from lakestory.engines.files import CsvDialect

_LINE = re.compile(r"CSV Error on Line: (\d+)")
_FILE = re.compile(r"^\s*file = (.+)$", re.M)
_ORIGINAL = re.compile(r"Original Line: (.*)")
_COLUMN = re.compile(r'converting column "([^"]+)"')
_COUNTS = re.compile(r"Expected Number of Columns: (\d+) Found: (\d+)")
_CONVERT = re.compile(r'Could not convert string "([^"]*)" to \'([^\']+)\'')


def csv_error(
    exc: duckdb.Error,
    files: list[str],
    dialect: CsvDialect | None = None,
    names: list[str] | None = None,
    declared: dict[str, str] | None = None,
) -> LakestoryError:
    text = str(exc)
    file_m = _FILE.search(text)
    file = file_m.group(1).strip() if file_m else (files[0] if len(files) == 1 else None)
    line, row_text = _locate(file, _int(_LINE.search(text)), dialect or CsvDialect())
    if row_text is None and (original := _ORIGINAL.search(text)):
        row_text = original.group(1)
    detail = f"line {line}: {row_text}" if line and row_text is not None else None
    where = Where(file=file, line=line)
    if counts := _COUNTS.search(text):
        return DataError(
            f"malformed CSV row: expected {counts.group(1)} fields, found {counts.group(2)}",
            where=where,
            detail=detail,
            hint="fix the row, or quote fields that contain the delimiter; "
            "no row is dropped silently",
        )
    if "unterminated quote" in text:
        return DataError(
            "malformed CSV row: a quoted value is never closed",
            where=where,
            detail=detail,
            hint='close the quote, or double a quote inside a quoted value ("")',
        )
    if column := _COLUMN.search(text):
        name = column.group(1)
        conv = _CONVERT.search(text)
        value = f"'{conv.group(1)}' " if conv else ""
        # the type as the user wrote it in `read.schema` (e.g. int), not DuckDB's INTEGER
        typ = (declared or {}).get(name) or (conv.group(2) if conv else "its declared type")
        index = names.index(name) if names and name in names else None
        col = _field_column(row_text, index, dialect or CsvDialect())
        return DataError(
            f"value {value}in column '{name}' does not parse as {typ}",
            where=Where(file=file, line=line, column=col),
            detail=detail,
            hint="fix the value, or change the column's type in `read.schema`",
        )
    return DataError(f"cannot read CSV: {_first_line(text)}", where=where, detail=detail)


def _locate(
    file: str | None, reported: int | None, dialect: CsvDialect
) -> tuple[int | None, str | None]:
    """The physical line (and its text) of the row DuckDB reports as ``reported``.

    DuckDB counts lines without the line breaks inside quoted values, so after a multi-line
    value its number is too small; count them all again here.
    """
    if file is None or reported is None:
        return reported, None
    try:
        with open(file, encoding=dialect.encoding, newline="") as fh:
            content = fh.read()
    except (OSError, UnicodeError):
        return reported, None
    logical, physical, quoted, i = 1, 1, False, 0
    while i < len(content) and logical < reported:
        ch = content[i]
        if quoted and ch == dialect.escape and dialect.escape != dialect.quote:
            i += 1  # the escaped character
        elif ch == dialect.quote:
            quoted = not quoted
        if i < len(content) and content[i] == "\n":
            physical += 1
            logical += 0 if quoted else 1
        i += 1
    if logical < reported:
        return reported, None
    lines = content.split("\n")
    return physical, lines[physical - 1].rstrip("\r") if physical <= len(lines) else None


def _field_column(row: str | None, index: int | None, dialect: CsvDialect) -> int | None:
    """The 1-based character column where field ``index`` starts in ``row`` (one line)."""
    if row is None or index is None:
        return None
    field, quoted = 0, False
    for pos, ch in enumerate(row):
        if field == index:
            return pos + 1
        if ch == dialect.quote:
            quoted = not quoted
        elif ch == dialect.delimiter and not quoted:
            field += 1
    return len(row) + 1 if field == index else None


_MALFORMED_JSON = re.compile(
    r'Malformed JSON in file "([^"]+)", at byte (\d+) in line (\d+): (.*?)\.?\s*$'
)
_PREFIX = re.compile(r"^(Binder|Parser|Catalog|Conversion|Invalid Input|Out of Range|IO) Error: ")


def data_error(exc: duckdb.Error, what: str, files: list[str]) -> LakestoryError:
    file = files[0] if len(files) == 1 else None
    message = _PREFIX.sub("", _first_line(str(exc)))
    if m := _MALFORMED_JSON.match(message):
        return DataError(
            f"{what}: malformed JSON: {m.group(4)} (at byte {m.group(2)})",
            where=Where(file=m.group(1), line=int(m.group(3))),
            hint="each line must hold one complete JSON object",
        )
    return DataError(f"{what}: {message}", where=Where(file=file))


_PY_EXCEPTION = "Python exception: "


def write_error(exc: BaseException, target: str) -> WriteError:
    """A failed write; the target is unchanged (Delta commits whole, files are swapped in)."""
    hint = f"nothing was committed: {target} is as it was before this run"
    failure = _python_failure(str(exc))
    if failure is None:
        return WriteError(f"writing {target} failed: {_first_line(str(exc))}", hint=hint)
    raised, detail = failure
    return WriteError(
        f"writing {target} failed: the data being written raised {raised}", hint=hint, detail=detail
    )


def compute_error(exc: duckdb.Error, what: str) -> LakestoryError:
    """A query failed while computing data: the user's Python data source, or the SQL."""
    failure = _python_failure(str(exc))
    if failure is None:
        return sql_error(exc)
    raised, detail = failure
    return StepError(f"{what} failed: the data raised {raised}", detail=detail)


def _python_failure(text: str) -> tuple[str, str | None] | None:
    """The exception (and traceback) of a Python stream DuckDB or delta-rs was reading."""
    start = text.find(_PY_EXCEPTION)
    if start < 0:
        return None
    # DuckDB (and delta-rs around it) embed the Python traceback of the stream that failed:
    # keep the first one, up to its exception line.
    lines: list[str] = []
    for line in text[start + len(_PY_EXCEPTION) :].splitlines():
        lines.append(line)
        if lines[0].startswith("Traceback") and len(lines) > 1 and line[:1].strip():
            break
    raised = lines[-1].strip().rstrip(".")
    return raised, "\n".join(lines) if len(lines) > 1 else None


_CANDIDATES = re.compile(r"^Candidate bindings: (.*)$", re.M)


def sql_error(exc: duckdb.Error) -> SqlError:
    text = str(exc)
    message = _first_line(text)
    message = _PREFIX.sub("", message)
    hint = None
    missing = re.match(r'Referenced column "([^"]+)" not found', message)
    if missing and (found := _CANDIDATES.search(text)):
        hint = suggestion(missing.group(1), re.findall(r'"([^"]+)"', found.group(1)))
    return SqlError(message, hint=hint)


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text


def _int(m: re.Match[str] | None) -> int | None:
    return int(m.group(1)) if m else None
