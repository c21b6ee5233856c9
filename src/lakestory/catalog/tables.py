"""The catalog's tables and their Arrow schemas.

Every commit to a table uses the same explicit schema, so concurrent writers never disagree
on types. Schemas are built on first use: importing the catalog must not import pyarrow.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

RUNS = "runs"
NODE_RUNS = "node_runs"
STATE = "state"
FILES = "files"
SCHEMA_HISTORY = "schema_history"
CHECKS = "checks"
TABLES = (RUNS, NODE_RUNS, STATE, FILES, SCHEMA_HISTORY, CHECKS)

# column name -> type name; "ts" is a UTC timestamp, "strings" a list of strings
_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    RUNS: (
        ("project", "string"),
        ("run_id", "string"),
        ("event", "string"),  # start | end
        ("status", "string"),  # running | success | failed
        ("env", "string"),
        ("pipelines", "strings"),
        ("options", "string"),  # JSON
        ("started_at", "ts"),
        ("ended_at", "ts"),
        ("duration_s", "float"),
        ("nodes_total", "int"),
        ("nodes_succeeded", "int"),
        ("nodes_failed", "int"),
        ("nodes_skipped", "int"),
        ("host", "string"),
        ("pid", "int"),
        ("lakestory_version", "string"),
    ),
    NODE_RUNS: (
        ("project", "string"),
        ("run_id", "string"),
        ("key", "string"),
        ("pipeline", "string"),
        ("node", "string"),
        ("status", "string"),
        ("started_at", "ts"),
        ("ended_at", "ts"),
        ("duration_s", "float"),
        ("rows_read", "int"),
        ("rows_out", "int"),
        ("rows_written", "int"),
        ("rows_updated", "int"),
        ("rows_deleted", "int"),
        ("target", "string"),
        ("target_uri", "string"),
        ("write_mode", "string"),
        ("table_version", "int"),
        ("attempts", "int"),
        ("config_hash", "string"),
        ("skipped_because", "string"),
        ("error", "string"),  # JSON
        ("note", "string"),
        ("recorded_at", "ts"),  # when the run's rows were committed: orders runs
    ),
    STATE: (
        ("project", "string"),
        ("key", "string"),
        ("pipeline", "string"),
        ("node", "string"),
        ("kind", "string"),  # column | files | window | reset
        ("value", "string"),  # JSON
        ("table_uri", "string"),
        ("table_version", "int"),
        ("run_id", "string"),
        ("updated_at", "ts"),
    ),
    FILES: (
        ("project", "string"),
        ("key", "string"),
        ("file", "string"),
        ("size", "int"),
        ("mtime", "float"),
        ("run_id", "string"),
        ("table_version", "int"),
        ("ingested_at", "ts"),
    ),
    SCHEMA_HISTORY: (
        ("project", "string"),
        ("table_uri", "string"),
        ("table", "string"),
        ("key", "string"),
        ("version", "int"),
        ("columns", "string"),  # JSON list of {name, type}
        ("change", "string"),
        ("run_id", "string"),
        ("recorded_at", "ts"),
    ),
    # added after the others: a catalog written before has none until its first checks
    CHECKS: (
        ("project", "string"),
        ("run_id", "string"),
        ("key", "string"),
        ("pipeline", "string"),
        ("node", "string"),
        ("node_status", "string"),  # the node run's status: success | failed | ...
        ("phase", "string"),  # contract | validation | gate
        ("test", "string"),  # the test's name ("gate" for the gate)
        ("type", "string"),  # e.g. not_null, row_count ("gate" for the gate)
        ("on_fail", "string"),  # fail | warn | drop | quarantine (gate: its action)
        ("status", "string"),  # passed | warned | dropped | quarantined | failed | error
        # (gate: passed | blocked)
        ("rows", "int"),  # rows judged
        ("failing", "int"),  # null for table-level tests
        ("pass_rate", "float"),
        ("threshold", "float"),  # gate: the pass rate required
        ("observed", "string"),  # JSON: e.g. the row count (gate: the whole gate)
        ("message", "string"),
        ("recorded_at", "ts"),  # when the run's rows were committed: orders runs
    ),
}

JSON_COLUMNS = frozenset({"options", "error", "value", "columns", "observed"})
# JSON columns holding any JSON value, a string included: always encoded, never taken as
# already-encoded JSON (a string in the other JSON columns is)
JSON_VALUES = frozenset({"observed"})


def columns(table: str) -> tuple[str, ...]:
    return tuple(name for name, _type in _COLUMNS[table])


@cache
def schema(table: str) -> pa.Schema:
    import pyarrow as pa

    types = {
        "string": pa.string(),
        "strings": pa.list_(pa.string()),
        "int": pa.int64(),
        "float": pa.float64(),
        "ts": pa.timestamp("us", tz="UTC"),
    }
    return pa.schema([pa.field(name, types[kind]) for name, kind in _COLUMNS[table]])


def to_arrow(table: str, rows: Iterable[Mapping[str, Any]]) -> pa.Table:
    """Rows as an Arrow table of ``table``'s schema: missing columns are null, dicts and
    lists in JSON columns are encoded (and any value in ``JSON_VALUES`` columns), extra
    keys are ignored."""
    import json

    import pyarrow as pa

    encoded = [
        {
            k: json.dumps(v, default=str, sort_keys=True)
            if k in JSON_COLUMNS and v is not None and (k in JSON_VALUES or not isinstance(v, str))
            else v
            for k, v in row.items()
        }
        for row in rows
    ]
    return pa.Table.from_pylist(encoded, schema=schema(table))
