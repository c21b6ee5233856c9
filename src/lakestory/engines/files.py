"""What every engine reading local files shares: the files a source names, a CSV header as
the reader will see it, and the rule that gives a CSV column its type."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from typing import Any

from lakestory.core.errors import DataError, Where
from lakestory.core.text import suggestion
from lakestory.io import local
from lakestory.io.specs import Source

# A CSV column's type when the read does not declare it: the first of these that every
# non-null value (trimmed) matches and casts to. Scanned over all rows, on every engine.
CANDIDATES = (  # (type, regex a value must match, and it must cast), tried in order
    ("INTEGER", r"[+-]?\d+"),
    ("BIGINT", r"[+-]?\d+"),
    ("DECIMAL(38,0)", r"[+-]?\d{1,38}"),  # whole numbers beyond BIGINT: exact, never DOUBLE
    ("DOUBLE", r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?"),
    ("BOOLEAN", r"(?i)true|false"),
    ("DATE", r"\d{4}-\d{2}-\d{2}"),
    ("TIMESTAMP", r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?"),
)


@dataclass(frozen=True)
class CsvDialect:
    """How the CSV files are read (also to find a reported row in the file again)."""

    delimiter: str = ","
    quote: str = '"'
    escape: str = '"'
    encoding: str = "utf-8"


def input_files(source: Source) -> list[str]:
    if source.files is not None:
        return list(source.files)
    files = local.list_files(source.location.uri, source.format)
    if not files:
        raise DataError(
            f"input not found: {source.location.display()} ({source.location.uri})",
            hint=_missing_hint(source.location.uri, source.format),
        )
    return files


def _missing_hint(uri: str, fmt: str) -> str:
    path = uri.rstrip("/")
    if os.path.isdir(path):
        return (
            f"the folder holds no {fmt} files (names starting with . or _ are skipped); "
            "set `format:` if the files are of another kind"
        )
    parent, name = os.path.split(path)
    if any(ch in path for ch in "*?["):
        return "no file matches the pattern"
    if not os.path.isdir(parent):
        return f"the folder {parent} does not exist; check the path and the connection's base_path"
    return suggestion(name, sorted(os.listdir(parent))) or (
        "check the path and the connection's base_path; "
        "a folder is read recursively, a glob like data/*.csv also works"
    )


def csv_header(
    files: list[str], dialect: CsvDialect, header: bool, opts: dict[str, Any]
) -> list[str]:
    """The column names: the first row after ``skip_rows`` and comment lines, as DuckDB reads."""
    names: list[str] | None = None
    skip, comment = int(opts.get("skip_rows", 0)), str(opts.get("comment", "") or "")
    for path in files:
        with open(path, newline="", encoding=dialect.encoding) as fh:
            for _ in range(skip):
                fh.readline()
            lines = (ln for ln in fh if not (comment and ln.startswith(comment)))
            row = next(
                csv.reader(lines, delimiter=dialect.delimiter, quotechar=dialect.quote), None
            )
        if row is None:
            continue
        found = row if header else [f"_c{i}" for i in range(len(row))]
        if names is None:
            names = found
        elif found != names and header:
            raise DataError(
                f"CSV header differs from the first file's ({', '.join(names)}): "
                f"{', '.join(found)}",
                where=Where(file=path, line=1),
                hint="files read together must have the same columns in the same order",
            )
    if not names:
        raise DataError("CSV input is empty (no header row)", where=Where(file=files[0]))
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise DataError(
            f"CSV header repeats column names: {', '.join(sorted(dupes))}",
            where=Where(file=files[0], line=1),
        )
    return names
