"""Translate Spark's exceptions (PySpark's captured ones and raw Py4J errors carrying a Java
stack trace) into lakestory errors that say what failed, without the JVM's stack."""

from __future__ import annotations

import re

from py4j.protocol import Py4JError
from pyspark.errors import PySparkException

from lakestory.core.errors import DataError, LakestoryError, SqlError, StepError, Where, WriteError
from lakestory.core.text import suggestion

# What Spark raises: its captured exceptions, and raw Py4J errors with a Java stack trace.
SPARK_ERRORS: tuple[type[Exception], ...] = (PySparkException, Py4JError)

_SQLSTATE = re.compile(r"\s*SQLSTATE: \w+;?")
# One exception line of a Java stack trace: "org.x.SparkException: [CLASS] text"
_JAVA_LINE = re.compile(r"^(?:Caused by: )?(?:[\w$]+\.)+[\w$]*(?:Exception|Error): (.+)$", re.M)
_MALFORMED_CSV = re.compile(r"Malformed CSV record: (.*?)(?:\s+SQLSTATE: \w+)?$")
_READ_FILE = re.compile(r"while reading file (\S+?)\.?\s")
_UNRESOLVED = re.compile(
    r"name `([^`]+)` cannot be resolved\. Did you mean one of the following\? \[(.*?)\]"
)


def text(exc: BaseException) -> str:
    """The innermost message of a Spark error, on one line, without SQLSTATE or plan; for
    Python code failing inside Spark, the Python exception it raised."""
    raw = str(exc)
    start = raw.rfind("Traceback (most recent call last)")
    if start >= 0:  # the exception line is the first one of the traceback not indented
        lines = raw[start:].splitlines()[1:]
        raised = next((ln for ln in lines if ln.strip() and ln[0] not in " \t"), None)
        if raised is not None:
            return raised.strip()
    causes = _JAVA_LINE.findall(raw)
    message = causes[-1] if causes else raw.strip().split("\n", 1)[0]
    return _SQLSTATE.sub("", message).strip().rstrip(";")


def sql_error(exc: BaseException) -> SqlError:
    message = text(exc)
    hint = None
    if m := _UNRESOLVED.search(message):
        hint = suggestion(m.group(1), [c.strip().strip("`") for c in m.group(2).split(",")])
    return SqlError(message, hint=hint)


def compute_error(exc: BaseException, what: str) -> LakestoryError:
    if _is_python_failure(exc):
        return StepError(f"{what} failed: {text(exc)}")
    return sql_error(exc)


def csv_error(exc: BaseException, files: list[str], encoding: str) -> LakestoryError:
    """A row the strict CSV reader refused, located in its file when the record is found."""
    raw = str(exc)
    file = files[0] if len(files) == 1 else None
    if m := _READ_FILE.search(raw):
        file = m.group(1).removeprefix("file://")
    record = None
    for line in raw.splitlines():
        if m := _MALFORMED_CSV.search(line):
            record = m.group(1)
    if record is None:
        return DataError(f"cannot read CSV: {text(exc)}", where=Where(file=file))
    line_no = _find_line(file, record, encoding) if file else None
    return DataError(
        f"malformed CSV row: {record!r} does not have the header's number of fields",
        where=Where(file=file, line=line_no),
        hint="fix the row, or check the delimiter, quote and escape options of the read",
    )


def data_error(exc: BaseException, what: str, files: list[str]) -> DataError:
    file = files[0] if len(files) == 1 else None
    return DataError(f"{what}: {text(exc)}", where=Where(file=file))


def write_error(exc: BaseException, target: str) -> WriteError:
    """A failed write; the target is unchanged (Delta commits whole, files are swapped in)."""
    return WriteError(
        f"writing {target} failed: {text(exc)}",
        hint=f"nothing was committed: {target} is as it was before this run",
    )


def _is_python_failure(exc: BaseException) -> bool:
    return type(exc).__name__ == "PythonException"


def _find_line(file: str, record: str, encoding: str) -> int | None:
    try:
        with open(file, encoding=encoding, errors="replace") as fh:
            for number, line in enumerate(fh, start=1):
                if line.rstrip("\r\n") == record:
                    return number
    except OSError:
        return None
    return None
