"""Window calculations: window, sessionize."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from lakestory.transforms.transformers import (
    Params,
    _add,
    _except,
    ident,
    transformer,
)

# ---- windows --------------------------------------------------------------------------

_FRAME = re.compile(r"(ROWS|RANGE)\s+BETWEEN\s+\S.*\s+AND\s+\S.*", re.IGNORECASE)


def _order(items: list[str]) -> str:
    """``ORDER BY`` items from column names, each maybe followed by ``asc`` or ``desc``."""
    out = []
    for item in items:
        col, _, way = item.rpartition(" ")
        if col.strip() and way.lower() in ("asc", "desc"):
            out.append(f"{ident(col.strip())} {way.upper()}")
        else:
            out.append(ident(item))
    return ", ".join(out)


class WindowParams(Params):
    columns: dict[str, str] = Field(
        min_length=1,
        description="new column → window function (row_number(), sum(amount), lag(x, 1) ...)",
    )
    partition_by: list[str] = Field(default_factory=list, description="the groups")
    order_by: list[str] = Field(
        default_factory=list, description="columns ordering each group ('col desc' reverses)"
    )
    frame: str | None = Field(
        None,
        description="e.g. ROWS BETWEEN 2 PRECEDING AND CURRENT ROW, for aggregates (ranking "
        "functions and lag/lead take none)",
    )

    @field_validator("frame")
    @classmethod
    def _frame(cls, value: str | None) -> str | None:
        if value is not None and not _FRAME.fullmatch(value.strip()):
            raise ValueError("a frame reads ROWS|RANGE BETWEEN <start> AND <end>")
        return value


@transformer(
    WindowParams,
    {
        "columns": {"rank": "row_number()", "running_total": "sum(amount)"},
        "partition_by": ["customer_id"],
        "order_by": ["ordered_at"],
    },
)
def window(p: WindowParams) -> str:
    """Add columns computed by window functions over groups of rows (ranks, running
    totals, previous values ...)."""
    spec = []
    if p.partition_by:
        spec.append("PARTITION BY " + ", ".join(ident(c) for c in p.partition_by))
    if p.order_by:
        spec.append("ORDER BY " + _order(p.order_by))
    framed = [*spec, " ".join(p.frame.split())] if p.frame else spec
    exprs = {}
    for col, expr in p.columns.items():
        parts = spec if _function(expr) in _FRAMELESS else framed
        exprs[col] = f"{expr} OVER ({' '.join(parts)})"
    return f"SELECT {_add(exprs)} FROM df"


# ranking and offset functions take no frame (Spark refuses one; the SQL standard ignores it)
_FRAMELESS = {
    "row_number",
    "rank",
    "dense_rank",
    "percent_rank",
    "ntile",
    "cume_dist",
    "lag",
    "lead",
}


def _function(expr: str) -> str:
    """The name of the function ``expr`` calls (lower case), or ''."""
    found = re.match(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*\(", expr)
    return found.group(1).lower() if found else ""


class SessionizeParams(Params):
    keys: list[str] = Field(min_length=1, description="columns that identify a user")
    timestamp: str = Field(min_length=1, description="the event time column")
    gap_minutes: float = Field(30, gt=0, description="inactivity that starts a new session")
    column: str = Field("session_id", min_length=1, description="the session column to add")


@transformer(SessionizeParams, {"keys": ["user_id"], "timestamp": "event_at", "gap_minutes": 30})
def sessionize(p: SessionizeParams) -> str:
    """Number each user's sessions (1, 2, ...): a session ends after a gap without events
    longer than gap_minutes."""
    keys = ", ".join(ident(k) for k in p.keys)
    ts = ident(p.timestamp)
    w = f"OVER (PARTITION BY {keys} ORDER BY {ts})"
    gap = round(p.gap_minutes * 60_000_000)
    since = f"unix_micros(CAST({ts} AS timestamp)) - unix_micros(CAST(lag({ts}) {w} AS timestamp))"
    new, flag = (
        "__lakestory_new",
        f"CASE WHEN lag({ts}) {w} IS NULL OR {since} > {gap} THEN 1 ELSE 0 END",
    )
    inner = f"SELECT *, {flag} AS {ident(new)} FROM df"
    running = (
        f"OVER (PARTITION BY {keys} ORDER BY {ts} ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"
    )
    session = f"CAST(sum({ident(new)}) {running} AS bigint)"
    return f"SELECT {_except([new])}, {session} AS {ident(p.column)} FROM ({inner}) AS s"
