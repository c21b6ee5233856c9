"""Logging setup and the log observer: human lines by default, JSON lines on request.

``logging.structured: true`` or ``LAKESTORY_LOG_FORMAT=json`` (the variable wins) switches
to one JSON object per line on stderr.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime
from typing import Any

from lakestory.config.models import LoggingConfig
from lakestory.runtime.events import (
    Event,
    GateBlocked,
    NodeFinished,
    NodeStarted,
    RowsQuarantined,
    RunFinished,
    RunStarted,
)
from lakestory.runtime.plan import Plan
from lakestory.secrets.redactor import current as current_redactor

log = logging.getLogger("lakestory.run")
_FIELDS = (
    "event",
    "run_id",
    "project",
    "pipeline",
    "node",
    "status",
    "duration_s",
    "rows_read",
    "rows_written",
    "error",
    "rows",
    "target",
    "pass_rate",
    "required",
    "action",
)


class JsonFormatter(logging.Formatter):
    """One JSON object per record; message, fields and exception text pass the redactor."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in _FIELDS:
            if hasattr(record, key):
                out[key] = getattr(record, key)
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        redactor = current_redactor()
        # redact the values, not the JSON text: a pattern could eat an escaping backslash
        return json.dumps(redactor.redact(out), default=lambda o: redactor.redact_text(str(o)))


class TextFormatter(logging.Formatter):
    """The human log line (exception text included), through the redactor."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        return current_redactor().redact_text(super().format(record))


def structured(cfg: LoggingConfig) -> bool:
    """JSON lines? ``LAKESTORY_LOG_FORMAT`` (json or text) wins over the config."""
    env = os.environ.get("LAKESTORY_LOG_FORMAT", "").lower()
    return env == "json" if env else cfg.structured


def node_levels(plan: Plan) -> dict[str, str]:
    """The nodes with their own ``log_level``."""
    return {p.key: p.node.config.log_level for p in plan.nodes if p.node.config.log_level}


def wants_event_logs(cfg: LoggingConfig, plan: Plan | None = None) -> bool:
    """A log line per run and node event: for machines (JSON) or when asked for (INFO).

    At the default WARNING level in text mode the CLI's reporter already shows every
    node's outcome, and a log line would say it twice.
    """
    levels = [cfg.level, *(node_levels(plan).values() if plan else ())]
    return structured(cfg) or min(logging.getLevelName(v) for v in levels) <= logging.INFO


def configure(cfg: LoggingConfig, node_levels: dict[str, str] | None = None) -> None:
    is_json = structured(cfg)
    root = logging.getLogger("lakestory")
    for h in list(root.handlers):
        if getattr(h, "_lakestory", False):
            root.removeHandler(h)
    handler = logging.StreamHandler(sys.stderr)
    handler._lakestory = True  # type: ignore[attr-defined]
    handler.setFormatter(JsonFormatter() if is_json else TextFormatter())
    root.addHandler(handler)
    root.setLevel(cfg.level)
    root.propagate = False


class LogObserver:
    """Writes one log line per run and node event."""

    def __init__(self) -> None:
        self.run_id = ""
        self.project = ""

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self.run_id, self.project = event.result.run_id, event.result.project
            log.info("run started", extra=self._extra(event="run_started"))
        elif isinstance(event, NodeStarted):
            r = event.record
            log.debug(
                "node started",
                extra=self._extra(event="node_started", pipeline=r.pipeline, node=r.node),
            )
        elif isinstance(event, NodeFinished):
            r = event.record
            level = logging.ERROR if r.status == "failed" else logging.INFO
            log.log(
                level,
                f"node {r.key} {r.status}",
                extra=self._extra(
                    event="node_finished",
                    pipeline=r.pipeline,
                    node=r.node,
                    status=r.status,
                    duration_s=r.duration,
                    rows_read=r.rows_read,
                    rows_written=r.rows_written,
                    error=(r.error or {}).get("message"),
                ),
            )
        elif isinstance(event, RowsQuarantined):
            r = event.record
            log.warning(
                f"node {r.key} quarantined {event.rows} rows in {event.target}",
                extra=self._extra(
                    event="rows_quarantined",
                    pipeline=r.pipeline,
                    node=r.node,
                    rows=event.rows,
                    target=event.target,
                ),
            )
        elif isinstance(event, GateBlocked):
            r = event.record
            g = event.gate
            log.warning(
                f"node {r.key}: quality gate blocked ({g['action']}), pass rate "
                f"{g['pass_rate']:.2%}",
                extra=self._extra(event="gate_blocked", pipeline=r.pipeline, node=r.node, **g),
            )
        elif isinstance(event, RunFinished):
            res = event.result
            log.info(
                f"run {res.status}",
                extra=self._extra(event="run_finished", status=res.status, duration_s=res.duration),
            )

    def _extra(self, **fields: Any) -> dict[str, Any]:
        return {"run_id": self.run_id, "project": self.project, **fields}
