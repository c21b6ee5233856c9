"""What SQL steps mean, remembered between runs.

Parsing Spark SQL and translating it needs sqlglot, whose import alone costs a few hundred
milliseconds. The cache keeps, per SQL text, the tables it references and, per (text,
table mapping, dialect), the translated SQL, in ``.lakestory/cache/`` beside the project
file. Unchanged SQL then needs no sqlglot at all; changed SQL is parsed as usual. Entries
are keyed by content and by the lakestory and sqlglot versions, so a stale entry is never
used. Only runs write the file (validate and plan have no side effects).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Mapping
from dataclasses import astuple, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from lakestory._version import __version__
from lakestory.secrets.redactor import current as current_redactor
from lakestory.transforms.sensitivity import Sensitive

_MAX_ENTRIES = 2000


@dataclass(frozen=True)
class Ref:
    """A table a SQL step reads (see :class:`lakestory.transforms.sql.TableRef`)."""

    name: str
    qualifier: str | None
    line: int
    column: int


# Raised whenever a translation changes for the same lakestory and sqlglot versions, so
# cached translations made by the older code are not used.
TRANSLATION_REVISION = 6


class SqlCache:
    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._dirty = False
        self._stamp = f"{__version__}/{_sqlglot_version()}/{TRANSLATION_REVISION}"
        self._entries: dict[str, Any] = self._load()

    def refs(self, text: str) -> tuple[Ref, ...]:
        """Tables the SQL reads; raises SqlError when it does not parse."""
        key = _digest("refs", text)
        cached = self._entries.get(key)
        if cached is not None:
            return tuple(Ref(*r) for r in cached)
        from lakestory.transforms.sql import parse_spark_sql

        refs = tuple(
            Ref(r.name, r.qualifier, r.line, r.column) for r in parse_spark_sql(text).table_refs
        )
        self._put(key, [list(astuple(r)) for r in refs])
        return refs

    def row_condition_problem(self, condition: str) -> str | None:
        """See :func:`lakestory.transforms.sql.row_condition_problem` (cached)."""
        key = _digest("condition", condition)
        cached = self._entries.get(key)
        if cached is not None:
            return str(cached) or None
        from lakestory.transforms.sql import row_condition_problem

        problem = row_condition_problem(condition)
        self._put(key, problem or "")
        return problem

    def sensitive_outputs(self, text: str, tables: Mapping[str, Sensitive]) -> Sensitive:
        """See :func:`lakestory.transforms.lineage.step_outputs` (cached)."""
        given = sorted((k.lower(), None if v is None else sorted(v)) for k, v in tables.items())
        key = _digest("sensitive", json.dumps([text, given]))
        if key in self._entries:
            cached = self._entries[key]
            return None if cached is None else frozenset(cached)
        from lakestory.transforms.lineage import step_outputs

        out = step_outputs(text, tables)
        self._put(key, None if out is None else sorted(out))
        return out

    def translate(
        self, text: str, tables: Mapping[tuple[str | None, str], str], dialect: str
    ) -> str:
        """The SQL for ``dialect`` with table references replaced by ``tables``."""
        mapping = sorted(([q or "", n], v) for (q, n), v in tables.items())
        key = _digest("sql", json.dumps([text, mapping, dialect]))
        cached = self._entries.get(key)
        if cached is not None:
            return str(cached)
        from lakestory.transforms.sql import parse_spark_sql, to_dialect

        out = to_dialect(parse_spark_sql(text), tables, dialect)
        if current_redactor().redact_text(text) == text:  # the cache file never holds a secret
            self._put(key, out)
        return out

    def save(self) -> None:
        """Write the cache if anything was added (atomically; errors are not fatal)."""
        if not (self._dirty and self.path):
            return
        with self._lock:
            entries = dict(list(self._entries.items())[-_MAX_ENTRIES:])
            payload = json.dumps({"stamp": self._stamp, "entries": entries})
            self._dirty = False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(f".tmp-{os.getpid()}")
            tmp.write_text(payload, encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError:
            pass  # a cache that cannot be written only costs the next run a parse

    def _put(self, key: str, value: Any) -> None:
        with self._lock:
            self._entries[key] = value
            self._dirty = True

    def _load(self) -> dict[str, Any]:
        if self.path is None or not self.path.is_file():
            return {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict) or data.get("stamp") != self._stamp:
            return {}
        entries = data.get("entries")
        return entries if isinstance(entries, dict) else {}


def _digest(kind: str, text: str) -> str:
    return kind + ":" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _sqlglot_version() -> str:
    try:
        return metadata.version("sqlglot")
    except metadata.PackageNotFoundError:
        return "?"
