"""Human renderings of plans and run results."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lakestory.runtime.plan import Plan
from lakestory.runtime.records import RunResult


def print_plan(plan: Plan, console: Console) -> None:
    env = f" (env {plan.env})" if plan.env else ""
    resumed = f" · resuming run {plan.resume_of}" if plan.resume_of else ""
    console.print(
        f"[bold]{escape(plan.project)}[/]{escape(env)} · engine {plan.engine} · "
        f"on_error {plan.on_error} · {len(plan.nodes)} nodes in run order{resumed}"
    )
    if plan.note:
        console.print(escape(plan.note))
    if not plan.nodes:
        return
    table = Table(show_lines=False, pad_edge=False)
    for col in ("#", "node", "depends on", "reads", "steps", "writes"):
        table.add_column(col, overflow="fold")
    for i, pn in enumerate(plan.nodes, 1):
        d = pn.to_dict()
        reads = [f"{r['location']} ({r['format']})" for r in d["reads"]]
        reads += [f"{k} ← table {s['location']}" for k, s in d["reads_tables_of"].items()]
        steps = _steps(d)
        w = d["write"]
        writes = (
            f"{w['location']} ({w['format']}, [bold]{w['mode']}[/]: {w['effect']})" if w else "-"
        )
        if d["incremental"]:
            inc = d["incremental"]
            what = inc.get("column") or "new files"
            reads = [f"{r} [dim]incremental: {inc['mode']} {what}[/]" for r in reads]
        name = escape(pn.key) + ("" if pn.reason == "selected" else f"\n[dim]{pn.reason}[/]")
        if ops := _operations(d):
            name += f"\n[dim]{ops}[/]"
        table.add_row(
            str(i),
            name,
            escape(", ".join(d["depends_on"]) or "-"),
            escape("\n".join(reads) or "-"),
            steps,
            writes,
        )
    console.print(table)


def _operations(d: dict[str, Any]) -> str:
    """``timeout 30m, 3 attempts`` when a node has either."""
    parts = []
    if d.get("timeout_s"):
        parts.append(f"timeout {d['timeout_s']:g}s")
    if d.get("retry"):
        parts.append(f"{d['retry']['max_attempts']} attempts ({d['retry']['backoff']})")
    return ", ".join(parts)


def _steps(d: dict[str, Any]) -> str:
    """The steps column: contracts, transform steps, validation tests, in run order."""
    parts = [s["kind"] for s in d["steps"]]
    if d.get("pattern"):
        parts.append(f"pattern {d['pattern']['type']}")
    checks = d["checks"] or {}
    if checks.get("contract"):
        parts.insert(0, f"contracts ({len(checks['contract'])})")
    if checks.get("validation"):
        modes = sorted({t["on_fail"] for t in checks["validation"]})
        parts.append(f"tests ({len(checks['validation'])}: {'/'.join(modes)})")
    out = ", ".join(parts) or "-"
    if checks.get("quarantine"):
        out += f"\n[dim]quarantine → {escape(checks['quarantine'])}[/]"
    if checks.get("gate"):
        out += f"\n[dim]gate: {checks['gate']['on_fail']}[/]"
    return out


def print_failures(result: RunResult, out: Console, err: Console) -> None:
    counts: dict[str, int] = {}
    for r in result.nodes:
        counts[r.status] = counts.get(r.status, 0) + 1
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    for r in (r for r in result.nodes if r.status in ("failed", "aborted")):
        err.print(f"\n[bold red]✗ {escape(r.key)} {r.status}[/]")
        for line in (r.error or {}).get("text", "").splitlines():
            style = "yellow" if line.startswith("hint:") else ""
            err.print(f"  [{style}]{escape(line)}[/]" if style else f"  {escape(line)}")
    for r in result.nodes:
        if r.note:
            out.print(f"[dim]{escape(r.key)}: {escape(r.note)}[/]")
    colour = "green" if result.ok else "red"
    out.print(
        f"[{colour}]run {result.status}[/] in {result.duration or 0:.2f}s: {summary} "
        f"(run id {result.run_id})"
    )
    if result.options.get("story"):
        out.print(f"story: {escape(str(result.options['story']))}")
