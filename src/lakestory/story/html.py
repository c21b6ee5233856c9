"""The story as ONE self-contained HTML page: inline CSS and a little inline JS, no external
fonts, scripts or images, so it opens offline. Every value from the run (data, SQL, error
messages, names) is HTML-escaped where it is placed."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from html import escape
from typing import Any

from lakestory.story.dag import anchor, render_svg

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#222;
background:#fafafa}
header{background:#263238;color:#fff;padding:16px 24px}
header h1{margin:0 0 6px;font-size:20px}
main{padding:16px 24px;max-width:1400px}
.meta span{margin-right:18px;font-size:13px;opacity:.9}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;color:#fff;font-size:12px}
.s-success,.s-passed{background:#2e7d32}.s-failed,.s-error,.s-blocked,.s-aborted{background:#c62828}
.s-skipped,.s-pending{background:#9e9e9e}
.s-warned,.s-dropped,.s-quarantined,.s-retried{background:#ef6c00}
section.node{background:#fff;border:1px solid #ddd;border-radius:6px;margin:14px 0;
padding:10px 16px}
section.node h2{font-size:16px;margin:4px 0 8px}
table{border-collapse:collapse;font-size:12px;margin:6px 0}
th,td{border:1px solid #ddd;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#f0f0f0}
pre{background:#f5f5f5;padding:8px;overflow:auto;font-size:12px;border-radius:4px}
pre.err{background:#ffebee}
.k{color:#1565c0;font-weight:bold}.str{color:#2e7d32}.num{color:#6a1b9a}
.dagbox{overflow:auto;background:#fff;border:1px solid #ddd;border-radius:6px;padding:6px}
.muted{color:#777}.change{color:#ef6c00}.flag{color:#c62828;font-weight:600}
.trend .bar{fill:#90a4ae}.trend .now{fill:#1565c0}
details summary{cursor:pointer}
"""
JS = """
document.querySelectorAll('.dag a').forEach(function(a){a.addEventListener('click',
function(){var t=document.querySelector(a.getAttribute('href'));
if(t){t.querySelectorAll('details').forEach(function(d){d.open=true;});}});});
"""
_KEYWORD_TEXT = """select from where and or not as on join left right inner outer full cross
group by order having limit union all distinct case when then else end is null in like between
with over partition insert into values update delete create table view cast coalesce exists
asc desc true false qualify lateral using"""
KEYWORDS = frozenset(_KEYWORD_TEXT.split())
_TOKENS = re.compile(r"('(?:[^']|'')*'|\"[^\"]*\"|`[^`]*`|\b\d+(?:\.\d+)?\b|\b\w+\b|--[^\n]*)")


def highlight_sql(sql: str) -> str:
    """Escaped SQL with keywords, strings and numbers wrapped in spans."""
    out = []
    for i, part in enumerate(_TOKENS.split(sql)):
        text = escape(part)
        if i % 2 == 0 or not part:
            out.append(text)
        elif part[0] == "'":
            out.append(f'<span class="str">{text}</span>')
        elif part[0].isdigit():
            out.append(f'<span class="num">{text}</span>')
        elif part.lower() in KEYWORDS:
            out.append(f'<span class="k">{text}</span>')
        elif part.startswith("--"):
            out.append(f'<span class="muted">{text}</span>')
        else:
            out.append(text)
    return "".join(out)


def _cell(value: Any) -> str:
    if isinstance(value, _Raw):  # markup built here from escaped parts
        return value
    if value is None:
        return '<span class="muted">null</span>'
    if isinstance(value, dict | list):
        return escape(json.dumps(value, default=str))
    return escape(str(value))


def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _badge(status: Any) -> str:
    s = escape(str(status))
    return f'<span class="badge s-{s}">{s}</span>'


def _num(value: Any) -> str:
    return "–" if value is None else f"{value:,}" if isinstance(value, int) else escape(str(value))


def render_html(story: dict[str, Any]) -> str:
    run = story["run"]
    title = f"{run['project']} · run {run['run_id']}"
    nodes = story["nodes"]
    status = {n["key"]: n["status"] for n in nodes}
    svg = render_svg(story["dag"]["nodes"], story["dag"]["edges"], status)
    body = [
        _header(run, story["totals"]),
        "<main>",
        f'<h2>DAG</h2><div class="dagbox">{svg}</div>',
        _schema_changes(story.get("schema_changes") or []),
        *(_node(n) for n in nodes),
        "</main>",
    ]
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
        + "".join(body)
        + f"<script>{JS}</script></body></html>\n"
    )


def _header(run: dict[str, Any], totals: dict[str, Any]) -> str:
    facts = [
        ("pipelines", ", ".join(run["pipelines"])),
        ("env", run["env"] or "default"),
        ("started", run["started_at"]),
        ("duration", f"{run['duration_s'] or 0:.2f}s"),
        ("user", run.get("user")),
        ("host", run.get("host")),
        ("git", (run.get("git_commit") or "")[:12] or "–"),
        ("lakestory", run.get("lakestory_version")),
    ]
    meta = "".join(f"<span>{escape(k)}: <b>{escape(str(v))}</b></span>" for k, v in facts)
    counts = (
        f"{totals['succeeded']} succeeded, {totals['failed']} failed, {totals['skipped']} "
        f"skipped · rows read {_num(totals['rows_read'])}, written "
        f"{_num(totals['rows_written'])}, dropped {_num(totals['rows_dropped'])}, "
        f"quarantined {_num(totals['rows_quarantined'])}"
    )
    return (
        f"<header><h1>{escape(run['project'])} {_badge(run['status'])}</h1>"
        f'<div class="meta">{meta}</div><div class="meta"><span>run id '
        f"<b>{escape(run['run_id'])}</b></span><span>{escape(counts)}</span></div></header>"
    )


def _trend(trend: dict[str, Any], rows: Any, duration: Any) -> str:
    """Rows and durations of the last runs and this one, as a small table and a bar chart
    of the rows; what is far off the norm is flagged."""
    runs = [*trend.get("runs", []), {"run_id": "this run", "rows": rows, "duration_s": duration}]
    top = max((r["rows"] or 0 for r in runs), default=0) or 1
    last = len(runs) - 1
    bars = "".join(
        f'<rect x="{i * 14}" y="{40 - 38 * (r["rows"] or 0) / top:.1f}" width="10" '
        f'height="{38 * (r["rows"] or 0) / top:.1f}" class="{"now" if i == last else "bar"}">'
        f"<title>{escape(str(r['run_id']))}: {escape(str(r['rows']))} rows</title></rect>"
        for i, r in enumerate(runs)
    )
    svg = f'<svg class="trend" width="{14 * len(runs)}" height="40">{bars}</svg>'
    flags = "".join(f'<p class="flag">far off the norm: {escape(f)}</p>' for f in trend["flags"])
    cells = [(str(r["run_id"]), r["rows"], r["duration_s"]) for r in runs]
    table = _table(["run", "rows out", "duration s"], cells)
    head = f"<h3>Trend (last {last} runs)</h3>"
    return f"{head}{svg}{flags}<details><summary>runs</summary>{table}</details>"


def _schema_changes(changes: list[dict[str, Any]]) -> str:
    if not changes:
        return ""
    rows = [(c["key"], c.get("table"), c["change"]) for c in changes]
    return "<h2>Schema changes</h2>" + _table(["node", "table", "change"], rows)


def _node(n: dict[str, Any]) -> str:
    parts = [
        f'<section class="node" id="{escape(anchor(n["key"]))}">'
        f"<h2>{escape(n['key'])} {_badge(n['status'])}</h2>",
        _node_facts(n),
    ]
    if n.get("note"):
        parts.append(f'<p class="muted">{escape(n["note"])}</p>')
    if n.get("skipped_because"):
        parts.append(f'<p class="muted">skipped: {escape(n["skipped_because"])}</p>')
    if n.get("error"):
        parts.append(_error(n["error"]))
    if n.get("schema"):
        change = n.get("schema_change")
        extra = f' <span class="change">({escape(change)})</span>' if change else ""
        rows = [(c.get("name"), c.get("type")) for c in n["schema"]]
        parts.append(f"<h3>Output schema{extra}</h3>" + _table(["column", "type"], rows))
    if n.get("trend"):
        parts.append(_trend(n["trend"], n.get("rows_out"), n.get("duration_s")))
    parts.append(_sample(n.get("sample"), n.get("sensitive_columns") or []))
    if n.get("checks") or n.get("gate"):
        parts.append(_checks(n.get("checks") or [], n.get("gate")))
    if n.get("sql"):
        ran = list(n.get("sql_run") or [])
        steps = "".join(
            f"<h4>step {i} as written</h4><pre>{highlight_sql(s)}</pre>"
            + (f"<h4>as run</h4><pre>{highlight_sql(ran[i - 1])}</pre>" if i <= len(ran) else "")
            for i, s in enumerate(n["sql"], 1)
        )
        parts.append(f"<details><summary>SQL ({len(n['sql'])} steps)</summary>{steps}</details>")
    parts.append("</section>")
    return "".join(parts)


def _node_facts(n: dict[str, Any]) -> str:
    written = n.get("target")
    if written and n.get("table_version") is not None:
        written = f"{written} (version {n['table_version']})"
    rows = [
        ("duration", f"{n['duration_s']:.2f}s" if n.get("duration_s") is not None else None),
        ("rows read", _num(n.get("rows_read"))),
        ("rows out", _num(n.get("rows_out"))),
        ("rows written", _num(n.get("rows_written"))),
        ("rows dropped", _num(n.get("rows_dropped"))),
        ("rows quarantined", _num(n.get("rows_quarantined"))),
        ("written to", written),
        ("pattern", n.get("pattern")),
        ("write mode", n.get("write_mode")),
        ("quarantine", n.get("quarantine_target")),
        ("attempts", n.get("attempts")),
        ("timeout", f"{n['timeout_s']:g}s" if n.get("timeout_s") else None),
    ]
    return _table(["", ""], [(k, v) for k, v in rows if v not in (None, "–")]) + _attempts(n)


def _attempts(n: dict[str, Any]) -> str:
    """Every attempt of a node that needed more than one: when, its error, the wait."""
    log = n.get("attempt_log") or []
    if len(log) < 2:
        return ""
    rows = [
        (
            a.get("attempt"),
            _Raw(_badge(a.get("status"))),
            (a.get("error") or {}).get("message") or "",
            f"{a['delay_s']:g}s" if a.get("delay_s") is not None else "",
            a.get("started_at"),
        )
        for a in log
    ]
    return "<h3>Attempts</h3>" + _table(["#", "status", "error", "then waited", "started"], rows)


def _error(error: dict[str, Any]) -> str:
    text = str(error.get("text") or error.get("message") or "")
    out = f'<h3>Error</h3><pre class="err">{escape(text)}</pre>'
    detail = error.get("detail")
    if detail and str(detail) not in text:
        out += f"<details><summary>detail</summary><pre>{escape(str(detail))}</pre></details>"
    return out


def _sample(sample: Any, sensitive: list[str]) -> str:
    if sample is None:
        return ""
    if isinstance(sample, str):  # redacted as a whole
        return f'<h3>Sample</h3><p class="muted">{escape(sample)}</p>'
    if not sample:
        return '<h3>Sample</h3><p class="muted">no rows</p>'
    headers = list(dict.fromkeys(k for row in sample for k in row))
    note = f" (sensitive: {escape(', '.join(sensitive))})" if sensitive else ""
    rows = [[row.get(h) for h in headers] for row in sample]
    return f"<h3>Sample{note}</h3>" + _table(headers, rows)


def _checks(checks: list[dict[str, Any]], gate: dict[str, Any] | None) -> str:
    rows = []
    for c in checks:
        samples = c.get("samples") or c.get("sample")
        rows.append(
            (
                c.get("phase"),
                c.get("name"),
                c.get("type"),
                _Raw(_badge(c.get("status"))),
                c.get("failing"),
                _rate(c.get("pass_rate")),
                c.get("message"),
                samples,
            )
        )
    headers = ["phase", "test", "type", "status", "failing", "pass rate", "message", "samples"]
    out = "<h3>Checks</h3>" + _table(headers, rows)
    if gate:
        out += f"<p>gate: {_cell(gate)}</p>"
    return out


class _Raw(str):
    """Markup built here from escaped parts: placed as is."""


def _rate(value: Any) -> str | None:
    return f"{value:.2%}" if isinstance(value, int | float) else None
