"""Alerts: a message to Slack, Teams or any webhook when a run starts, succeeds or fails,
quarantines rows or is blocked by a quality gate (``alerts:`` in the project file).

The observer is called from the runner's threads and only builds the message and queues
it: each destination has its own daemon thread that posts it (one retry after a failed
send). On RunFinished the observer waits for the queues to drain, for at most
``2 × timeout + RETRY_PAUSE`` (plus a little slack); whatever is not sent by then is
dropped with a warning. A failed alert is logged and never fails the run or changes its
exit code. Logs name the destination's host only: webhook URLs and headers hold secrets.

``throttle`` sends at most one alert per destination, event kind and pipeline set in the
window, across runs: the last-sent times live in ``.lakestory/alerts.json`` beside the
project file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import queue
import tempfile
import threading
import time
import urllib.error
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lakestory.config.loader import LoadedConfig
from lakestory.config.models import AlertConfig
from lakestory.runtime.events import (
    Event,
    GateBlocked,
    RowsQuarantined,
    RunFinished,
    RunStarted,
)
from lakestory.runtime.plan import Plan
from lakestory.runtime.records import NodeRecord, RunResult
from lakestory.secrets.redact import host_of
from lakestory.secrets.redactor import current as current_redactor

log = logging.getLogger("lakestory.alerts")

RETRY_PAUSE = 0.5  # seconds between a failed send and its one retry
DRAIN_SLACK = 0.25  # on top of the budget, so a last failure is still logged in the run
STATE_KEEP_S = 30 * 24 * 3600  # throttle entries older than this are forgotten
MAX_LISTED = 20  # failed nodes listed in one alert
MAX_ERROR = 1000  # characters of each error message
TEAMS_CARD = "application/vnd.microsoft.card.adaptive"
_PLAIN = {"content-type", "accept", "user-agent"}  # headers that hold no secret

_TITLES = {
    "on_start": "run started",
    "on_success": "run succeeded",
    "on_failure": "run failed",
    "on_quarantine": "rows quarantined",
    "on_gate_block": "quality gate blocked",
}
_ICONS = {
    "on_start": "▶️",
    "on_success": "✅",
    "on_failure": "❌",
    "on_quarantine": "⚠️",
    "on_gate_block": "⛔",
}


# -- what an alert says ------------------------------------------------------------------


def _rows(records: list[NodeRecord]) -> dict[str, int]:
    def total(name: str) -> int:
        return sum(getattr(r, name) or 0 for r in records)

    return {
        "read": total("rows_read"),
        "written": total("rows_written"),
        "quarantined": total("rows_quarantined"),
    }


def _error(rec: NodeRecord) -> dict[str, Any]:
    err = rec.error or {}
    message = str(err.get("message") or rec.status)
    if len(message) > MAX_ERROR:
        message = message[: MAX_ERROR - 1] + "…"
    return {"node": rec.key, "error": message, "kind": err.get("kind")}


def run_facts(kind: str, result: RunResult) -> dict[str, Any]:
    """The plain JSON of a run-level alert (on_start, on_success, on_failure)."""
    failed = [r for r in result.nodes if r.status in ("failed", "aborted")]
    counts: dict[str, int] = {}
    for r in result.nodes:
        counts[r.status] = counts.get(r.status, 0) + 1
    return {
        "source": "lakestory",
        "event": kind,
        "title": f"{result.project}: {_TITLES[kind]}",
        "project": result.project,
        "env": result.env,
        "pipelines": list(result.pipelines),
        "run_id": result.run_id,
        "status": "running" if kind == "on_start" else result.status,
        "started_at": result.started_at.isoformat(),
        "ended_at": result.ended_at.isoformat() if result.ended_at else None,
        "duration_s": result.duration,
        "nodes": {"total": len(result.nodes), **counts},
        "failed_nodes": [_error(r) for r in failed[:MAX_LISTED]],
        "more_failed_nodes": max(0, len(failed) - MAX_LISTED),
        "rows": None if kind == "on_start" else _rows(result.nodes),
        "story": result.options.get("story"),
    }


def node_facts(
    kind: str, result: RunResult, rec: NodeRecord, detail: dict[str, Any]
) -> dict[str, Any]:
    """The plain JSON of a node-level alert (on_quarantine, on_gate_block)."""
    title = f"{result.project}: {_TITLES[kind]} in {rec.key}"
    return {
        "source": "lakestory",
        "event": kind,
        "title": title,
        "project": result.project,
        "env": result.env,
        "pipelines": [rec.pipeline],
        "run_id": result.run_id,
        "status": "running",
        "node": rec.key,
        **detail,
        "failed_nodes": [],
        "rows": _rows([rec]),
        "story": result.options.get("story"),  # known once the run has ended
    }


def _summary(f: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, value) pairs every format shows."""
    pairs = [
        ("Project", f["project"]),
        ("Pipelines", ", ".join(f["pipelines"]) or "-"),
        ("Env", f["env"] or "-"),
        ("Status", f["status"]),
        ("Run", f["run_id"]),
    ]
    if f.get("node"):
        pairs.append(("Node", f["node"]))
    rows = f.get("rows")
    if rows:
        shown = f"{rows['read']} read, {rows['written']} written"
        if rows.get("quarantined"):
            shown += f", {rows['quarantined']} quarantined"
        pairs.append(("Rows", shown))
    if f.get("quarantine"):
        q = f["quarantine"]
        pairs.append(("Quarantined", f"{q['rows']} rows in {q['target']}"))
    if f.get("gate"):
        g = f["gate"]
        rate = g.get("pass_rate")
        shown = f"{rate:.1%}" if isinstance(rate, int | float) else str(rate)
        pairs.append(("Gate", f"{g.get('action')}: pass rate {shown}"))
    if f.get("duration_s") is not None:
        pairs.append(("Duration", f"{f['duration_s']:.1f}s"))
    if f.get("suppressed"):
        pairs.append(("Suppressed", f"{f['suppressed']} similar alerts since the last one"))
    return pairs


def _failures(f: dict[str, Any]) -> list[str]:
    lines = [f"{n['node']}: {n['error']}" for n in f["failed_nodes"]]
    if f.get("more_failed_nodes"):
        lines.append(f"... and {f['more_failed_nodes']} more")
    return lines


def _esc(text: Any) -> str:
    """Slack mrkdwn: &, < and > are control characters."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(f: dict[str, Any]) -> dict[str, Any]:
    """An incoming-webhook message: ``text`` (notifications, fallback) and ``blocks``."""
    title = f"{_ICONS[f['event']]} {f['title']}"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title[:150], "emoji": True}},
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": f"*{k}*\n{_esc(v)}"[:2000]} for k, v in _summary(f)
            ][:10],
        },
    ]
    failures = _failures(f)
    if failures:
        text = "*Failed nodes*\n" + "\n".join(f"• {_esc(line)}" for line in failures)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}})
    if f.get("story"):
        story = {"type": "mrkdwn", "text": f"Story: {_esc(f['story'])}"[:2000]}
        blocks.append({"type": "context", "elements": [story]})
    return {"text": title + (": " + failures[0] if failures else ""), "blocks": blocks}


def teams_payload(f: dict[str, Any]) -> dict[str, Any]:
    """A message with one Adaptive Card attachment (Teams workflows and connectors)."""
    colour = {"on_success": "Good", "on_failure": "Attention"}.get(f["event"], "Warning")
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": f"{_ICONS[f['event']]} {f['title']}",
            "weight": "Bolder",
            "size": "Medium",
            "color": "Default" if f["event"] == "on_start" else colour,
            "wrap": True,
        },
        {"type": "FactSet", "facts": [{"title": k, "value": str(v)} for k, v in _summary(f)]},
    ]
    failures = _failures(f)
    if failures:
        body.append({"type": "TextBlock", "text": "Failed nodes", "weight": "Bolder"})
        body += [{"type": "TextBlock", "text": line, "wrap": True} for line in failures]
    if f.get("story"):
        body.append(
            {"type": "TextBlock", "text": f"Story: {f['story']}", "isSubtle": True, "wrap": True}
        )
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    }
    return {
        "type": "message",
        "attachments": [{"contentType": TEAMS_CARD, "contentUrl": None, "content": card}],
    }


RENDER: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "slack": slack_payload,
    "teams": teams_payload,
    "webhook": lambda facts: facts,  # plain JSON: the facts themselves
}


# -- the throttle ------------------------------------------------------------------------


class ThrottleState:
    """Last-sent times per throttle key, in a small JSON file written atomically; a
    missing or unreadable file counts as empty."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def claim(self, key: str, window: float, now: float) -> tuple[bool, int, float]:
        """``(send?, suppressed, last_sent)``: sends record ``now`` and return how many
        were suppressed since the last send; suppressions are counted."""
        with self._lock:
            entries = self._load()
            entry = entries.get(key) or {}
            last = float(entry.get("sent") or 0.0)
            suppressed = int(entry.get("suppressed") or 0)
            if now - last < window:
                entries[key] = {"sent": last, "suppressed": suppressed + 1}
                self._save(entries, now)
                return False, suppressed + 1, last
            entries[key] = {"sent": now, "suppressed": 0}
            self._save(entries, now)
            return True, suppressed, last

    def release(self, key: str, sent: float, previous: float) -> None:
        """The send claimed at ``sent`` failed: the next alert may go out at once."""
        with self._lock:
            entries = self._load()
            entry = entries.get(key)
            if entry and entry.get("sent") == sent:
                entry["sent"] = previous
                self._save(entries, time.time())

    def _load(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text("utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("alert throttle state %s unreadable (%s): starting afresh", self.path, exc)
            return {}
        entries = data.get("entries") if isinstance(data, dict) else None
        if not isinstance(entries, dict):
            return {}
        return {k: v for k, v in entries.items() if isinstance(v, dict)}

    def _save(self, entries: dict[str, dict[str, Any]], now: float) -> None:
        kept = {k: v for k, v in entries.items() if now - float(v.get("sent") or 0) < STATE_KEEP_S}
        text = json.dumps({"version": 1, "entries": kept}, indent=1, sort_keys=True)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".alerts-", dir=self.path.parent)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
            os.replace(tmp, self.path)
        except OSError as exc:
            log.warning("could not save the alert throttle state %s: %s", self.path, exc)


# -- sending -----------------------------------------------------------------------------


def post_json(url: str, payload: dict[str, Any], headers: dict[str, str], timeout: float) -> None:
    """POST ``payload`` as JSON; raises on a network error, a timeout or an HTTP error."""
    import urllib.request  # only when an alert is sent: it costs ~20 ms to import

    body = json.dumps(payload, default=str).encode("utf-8")
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "lakestory", **headers},
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        response.read(65536)


def _retryable(exc: Exception) -> bool:
    if isinstance(exc, urllib.error.HTTPError):
        return exc.code >= 500 or exc.code in (408, 429)
    return True  # refused, reset, timed out, DNS ...


def _reason(exc: Exception, timeout: float) -> str:
    """Why a send failed, without the URL (which may hold a token)."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code}"
    cause = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(cause, TimeoutError):
        return f"no answer within {timeout:g}s"
    if isinstance(cause, OSError) and cause.strerror:
        return f"{type(cause).__name__}: {cause.strerror}"
    return f"{type(cause).__name__}: {cause}"


@dataclass
class Job:
    kind: str
    payload: dict[str, Any]
    run_id: str
    project: str
    release: Callable[[], None] | None = None  # undoes the throttle claim on failure


@dataclass
class Sender:
    """One destination's queue and daemon thread."""

    config: AlertConfig
    post: Callable[[str, dict[str, Any], dict[str, str], float], None] | None = None  # tests
    host: str = ""
    closed: bool = False
    _queue: queue.Queue[Job | None] = field(default_factory=queue.Queue)
    _pending: int = 0
    _idle: threading.Condition = field(default_factory=threading.Condition)
    _thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        self.host = host_of(self.config.url)

    def put(self, job: Job) -> None:
        with self._idle:
            self._pending += 1
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._work, name=f"lakestory-alerts-{self.host}", daemon=True
                )
                self._thread.start()
        self._queue.put(job)

    def wait(self, deadline: float) -> int:
        """Wait until the queue is empty or ``deadline`` (monotonic) passes; returns how
        many alerts are still unsent. After this, queued alerts are dropped and the thread
        ends once its current send (if any) is over."""
        with self._idle:
            self._idle.wait_for(lambda: self._pending == 0, max(0.0, deadline - time.monotonic()))
            self.closed = True
            if self._thread is not None:
                self._queue.put(None)  # the thread's last item
            return self._pending

    def _work(self) -> None:
        while (job := self._queue.get()) is not None:
            try:
                if not self.closed:
                    self._deliver(job)
                elif job.release is not None:  # dropped at the end of the run: not sent
                    job.release()
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()

    def _deliver(self, job: Job) -> None:
        from http.client import HTTPException  # imported with urllib.request by post_json

        timeout = self.config.timeout.total_seconds()
        for attempt in (1, 2):
            try:
                send = self.post or post_json
                send(self.config.url, job.payload, self.config.headers, timeout)
                return
            except (OSError, HTTPException, ValueError) as exc:  # logged, never raised
                if attempt == 1 and _retryable(exc) and not self.closed:
                    time.sleep(RETRY_PAUSE)
                    continue
                reason = current_redactor().redact_text(_reason(exc, timeout))
                log.warning(
                    "alert %s to %s not sent after %d attempt(s): %s",
                    job.kind,
                    self.host,
                    attempt,
                    reason.replace(self.config.url, self.host),
                    extra={"event": "alert_failed", "run_id": job.run_id, "project": job.project},
                )
                if job.release is not None:
                    job.release()
                return


# -- the observer ------------------------------------------------------------------------


def destination_id(cfg: AlertConfig) -> str:
    """A stable name for a destination that does not reveal its URL."""
    digest = hashlib.sha256(f"{cfg.type} {cfg.url}".encode()).hexdigest()[:12]
    return f"{cfg.type}:{host_of(cfg.url)}:{digest}"


class AlertObserver:
    """Maps run events to alert kinds, applies the throttle, queues each destination's
    message, and on RunFinished waits (bounded) for the queues to drain."""

    def __init__(self, configs: list[AlertConfig], state: ThrottleState) -> None:
        self.senders = [Sender(cfg) for cfg in configs]
        self.state = state
        self.result: RunResult | None = None

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self.result = event.result
            self._emit("on_start", lambda: run_facts("on_start", event.result))
        elif isinstance(event, RowsQuarantined):
            quarantine = {"rows": event.rows, "target": event.target}
            self._node_alert("on_quarantine", event.record, {"quarantine": quarantine})
        elif isinstance(event, GateBlocked):
            self._node_alert("on_gate_block", event.record, {"gate": dict(event.gate)})
        elif isinstance(event, RunFinished):
            self.result = event.result
            kind = "on_success" if event.result.status == "success" else "on_failure"
            self._emit(kind, lambda: run_facts(kind, event.result))
            self.drain()

    def _node_alert(self, kind: str, rec: NodeRecord, detail: dict[str, Any]) -> None:
        result = self.result
        if result is not None:
            self._emit(kind, lambda: node_facts(kind, result, rec, detail))

    def _emit(self, kind: str, facts: Callable[[], dict[str, Any]]) -> None:
        wanted = [s for s in self.senders if kind in s.config.on_events]
        if not wanted:
            return
        built = facts()
        redactor = current_redactor()
        for sender in wanted:
            job = self._throttled(sender, kind, built)
            if job is not None:
                job.payload = redactor.redact(RENDER[sender.config.type](job.payload))
                sender.put(job)

    def _throttled(self, sender: Sender, kind: str, facts: dict[str, Any]) -> Job | None:
        """The job to queue, or None when the throttle holds it back (logged at INFO)."""
        job = Job(kind, {**facts, "suppressed": 0}, facts["run_id"], facts["project"])
        window = sender.config.throttle
        if window is None:
            return job
        key = f"{destination_id(sender.config)}|{kind}|{','.join(sorted(facts['pipelines']))}"
        now = time.time()
        send, suppressed, last = self.state.claim(key, window.total_seconds(), now)
        if not send:
            log.info(
                "alert %s to %s suppressed by its throttle (%gs, last sent %.0fs ago): "
                "%d suppressed since",
                kind,
                sender.host,
                window.total_seconds(),
                now - last,
                suppressed,
                extra={"event": "alert_suppressed", "run_id": job.run_id, "project": job.project},
            )
            return None
        job.payload["suppressed"] = suppressed
        job.release = lambda: self.state.release(key, now, last)
        return job

    def budget(self) -> float:
        """The longest the run waits for its alerts at the end: one send and its retry."""
        longest = max(s.config.timeout.total_seconds() for s in self.senders)
        return 2 * longest + RETRY_PAUSE + DRAIN_SLACK

    def drain(self) -> None:
        deadline = time.monotonic() + self.budget()
        for sender in self.senders:
            unsent = sender.wait(deadline)
            if unsent:
                log.warning(
                    "%d alert(s) to %s not sent: no answer within the %.1fs the run waits",
                    unsent,
                    sender.host,
                    self.budget(),
                    extra={"event": "alert_failed"},
                )


def alert_observer(loaded: LoadedConfig, plan: Plan) -> AlertObserver | None:
    """The run's alert observer, or None when no alert is configured."""
    configs = [c for c in loaded.config.alerts if c.on_events]
    if not configs:
        return None
    # the URL (Slack's holds a token) and the headers are secrets wherever they show up
    secrets = [c.url for c in configs]
    secrets += [v for c in configs for k, v in c.headers.items() if k.lower() not in _PLAIN]
    current_redactor().add(secrets)
    return AlertObserver(
        configs, ThrottleState(Path(loaded.root_dir) / ".lakestory" / "alerts.json")
    )
