"""What every engine reading local files shares: the files a source names, a CSV header as
the reader will see it, and the rule that gives a CSV column its type."""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from lakestory.core.errors import DataError, Where
from lakestory.core.text import suggestion
from lakestory.io import paths
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

SAMPLE_ROWS = 10_000

# (column -> candidate types to try in order, a row limit or None for all rows) ->
# column -> (the first of its candidates every non-null value matches or None, whether the
# column holds any non-null value). One aggregate query per call, in the engine.
Evaluate = Callable[[Mapping[str, list[str]], int | None], dict[str, tuple[str | None, bool]]]


def infer_types(names: list[str], evaluate: Evaluate) -> dict[str, str]:
    """The type :data:`CANDIDATES` give each column over all its rows, in (usually) two
    cheap passes rather than one that tries every candidate on every row.

    The first pass tries every candidate on a sample. A candidate a sampled value fails
    fails on all rows too, so the answer over all rows is the sample's answer or a later
    candidate: the second pass checks only the sample's answer over all rows, and a third
    (rare: a value beyond the sample breaks it) tries the candidates after it."""
    order = [t for t, _ in CANDIDATES]
    if not names:
        return {}
    sampled = evaluate({n: order for n in names}, SAMPLE_ROWS)
    plans: dict[str, list[str]] = {}
    for n in names:
        first, seen = sampled[n]
        if first is not None:
            plans[n] = order[order.index(first) :]
        elif not seen:
            plans[n] = order  # no value in the sample: decide on all rows
        # else a sampled value matches no candidate: the column stays a string
    found: dict[str, str] = {}
    if not plans:
        return found
    checked = evaluate({n: plan[:1] for n, plan in plans.items()}, None)
    rest: dict[str, list[str]] = {}
    for n, plan in plans.items():
        ok, seen = checked[n]
        if ok is not None:
            found[n] = ok
        elif seen and len(plan) > 1:
            rest[n] = plan[1:]
    if rest:
        for n, (ok, _) in evaluate(rest, None).items():
            if ok is not None:
                found[n] = ok
    return found


def first_passing(
    plans: Mapping[str, list[str]], flags: list[Any]
) -> dict[str, tuple[str | None, bool]]:
    """Read back an aggregate laid out as, per column of ``plans``: one flag per candidate,
    then whether the column holds a non-null value (a column without one gets no type)."""
    out: dict[str, tuple[str | None, bool]] = {}
    i = 0
    for n, plan in plans.items():
        oks, seen = flags[i : i + len(plan)], bool(flags[i + len(plan)])
        first = next((t for t, ok in zip(plan, oks, strict=True) if ok), None)
        out[n] = (first if seen else None, seen)  # no value: no type (a string column)
        i += len(plan) + 1
    return out


PATTERNS = dict(CANDIDATES)


@dataclass(frozen=True)
class CsvDialect:
    """How the CSV files are read (also to find a reported row in the file again)."""

    delimiter: str = ","
    quote: str = '"'
    escape: str = '"'
    encoding: str = "utf-8"


def input_files(source: Source) -> list[str]:
    """Local paths of the files to read (files on a cloud connection are downloaded)."""
    if source.files is not None:
        return paths.local_files(list(source.files))
    files = paths.list_files(source.location.uri, source.format)
    if not files:
        raise DataError(
            f"input not found: {source.location.display()} ({source.location.uri})",
            hint=_missing_hint(source.location.uri, source.format),
        )
    return paths.local_files(files)


def _missing_hint(uri: str, fmt: str) -> str:
    if "://" in uri:
        return (
            f"no {fmt} file at that place in the store (names starting with . or _ are "
            "skipped); check the path, the connection's path_prefix, and `format:`"
        )
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


@dataclass(frozen=True)
class CsvLayout:
    """What a CSV source is, before any engine reads it."""

    files: list[str]
    dialect: CsvDialect
    header: bool
    names: list[str]


def csv_layout(source: Source, declared: Mapping[str, str]) -> CsvLayout:
    """The files, dialect and column names of a CSV source; the columns ``declared`` in
    ``read.schema`` must be among them."""
    files = input_files(source)
    opts = source.options
    quote = str(opts.get("quote", '"'))
    dialect = CsvDialect(
        str(opts.get("delimiter", ",")), quote, str(opts.get("escape", quote)),
        str(opts.get("encoding", "utf-8")),
    )  # fmt: skip
    header = bool(opts.get("header", True))
    names = csv_header(files, dialect, header, opts)
    unknown = set(declared) - set(names)
    if unknown:
        raise DataError(
            f"read.schema names columns not in the file: {', '.join(sorted(unknown))}",
            where=Where(file=files[0], line=1),
            hint=f"columns in the file: {', '.join(names)}",
        )
    return CsvLayout(files, dialect, header, names)
