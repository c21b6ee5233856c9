"""Logging setup and the log observer: human lines by default, JSON lines on request.

``logging.structured: true`` or ``LAKESTORY_LOG_FORMAT=json`` (the variable wins; ``text``
forces human lines) switches to one JSON object per line on stderr. Every line carries the
run's context (run_id, project, pipeline, node) from :mod:`lakestory.core.logctx` when the
call did not pass it, and every line passes the redactor.

Levels: ``logging.level`` for the project, a node's ``log_level`` for the lines logged while
that node runs (more or less verbose than the rest). Chatty third-party loggers are set to
WARNING unless the application chose a level for them.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from lakestory.config.models import LoggingConfig
from lakestory.core import logctx
from lakestory.runtime.events import (
    Event,
    GateBlocked,
    NodeFinished,
    NodeRetrying,
    NodeStarted,
    RowsQuarantined,
    RunFinished,
    RunStarted,
)
from lakestory.runtime.plan import Plan
from lakestory.secrets.redactor import current as current_redactor

log = logging.getLogger("lakestory.run")

# on every JSON line (null when not applicable)
CONTEXT = ("run_id", "project", "pipeline", "node")
# on a JSON line when the record has them
_FIELDS = (
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
    "attempt",
    "delay_s",
)
# quieted to WARNING by configure(), unless the application set their level itself
THIRD_PARTY = (
    "py4j",
    "urllib3",
    "azure",
    "botocore",
    "s3transfer",
    "openlineage",
    "opentelemetry",
    "asyncio",
    "fsspec",
    "filelock",
)
_COLOURS = {
    "DEBUG": "\x1b[2m",  # dim
    "INFO": "\x1b[32m",  # green
    "WARNING": "\x1b[33m",  # yellow
    "ERROR": "\x1b[31m",  # red
    "CRITICAL": "\x1b[1;31m",  # bold red
}
_RESET = "\x1b[0m"


def level_number(name: str) -> int:
    """``"DEBUG"`` → 10 (the names LoggingConfig accepts)."""
    return logging.getLevelNamesMapping()[name.upper()]


class ContextFilter(logging.Filter):
    """Fills run_id, project, pipeline and node from the bound log context when the record
    lacks them, then applies the level of the record's node (or the project's level)."""

    def __init__(self, level: int, node_levels: dict[str, int] | None = None) -> None:
        super().__init__()
        self.level = level
        self.node_levels = node_levels or {}

    def filter(self, record: logging.LogRecord) -> bool:
        bound = logctx.fields()
        for key in CONTEXT:
            if getattr(record, key, None) is None:
                setattr(record, key, bound.get(key))
        return record.levelno >= self.threshold(record)

    def threshold(self, record: logging.LogRecord) -> int:
        pipeline, node = getattr(record, "pipeline", None), getattr(record, "node", None)
        if node is None or not self.node_levels:
            return self.level
        key = f"{pipeline}.{node}" if pipeline else str(node)
        return self.node_levels.get(key, self.node_levels.get(str(node), self.level))


class JsonFormatter(logging.Formatter):
    """One JSON object per record; message, fields and exception text pass the redactor."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "event": getattr(record, "event", None) or "log",
            **{key: getattr(record, key, None) for key in CONTEXT},
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
    """The human line: ``time LEVEL logger [pipeline.node]: message`` (exception text
    included), through the redactor; the level coloured when ``colour`` is on."""

    def __init__(self, colour: bool = False) -> None:
        super().__init__()
        self.colour = colour

    def format(self, record: logging.LogRecord) -> str:
        pipeline, node = getattr(record, "pipeline", None), getattr(record, "node", None)
        where = f" [{pipeline}.{node}]" if pipeline and node else f" [{node}]" if node else ""
        text = f"{record.name}{where}: {record.getMessage()}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        if record.stack_info:
            text += "\n" + self.formatStack(record.stack_info)
        level = record.levelname
        if self.colour and level in _COLOURS:
            level = f"{_COLOURS[level]}{level}{_RESET}"
        return f"{self.formatTime(record)} {level} {current_redactor().redact_text(text)}"


def structured(cfg: LoggingConfig) -> bool:
    """JSON lines? ``LAKESTORY_LOG_FORMAT`` (json or text) wins over the config."""
    env = os.environ.get("LAKESTORY_LOG_FORMAT", "").strip().lower()
    return env == "json" if env in ("json", "text") else cfg.structured


def project_level(cfg: LoggingConfig) -> str:
    """``logging.level``, or by default INFO for JSON lines and WARNING for text."""
    return cfg.level or ("INFO" if structured(cfg) else "WARNING")


def use_colour(stream: TextIO) -> bool:
    """Colour for a terminal, unless ``NO_COLOR`` is set (https://no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def node_levels(plan: Plan) -> dict[str, str]:
    """The nodes with their own ``log_level``."""
    return {p.key: p.node.config.log_level for p in plan.nodes if p.node.config.log_level}


def wants_event_logs(cfg: LoggingConfig, plan: Plan | None = None) -> bool:
    """A log line per run and node event: for machines (JSON) or when asked for (INFO).

    At the default WARNING level in text mode the CLI's reporter already shows every
    node's outcome, and a log line would say it twice.
    """
    levels = [project_level(cfg), *(node_levels(plan).values() if plan else ())]
    return structured(cfg) or min(level_number(v) for v in levels) <= logging.INFO


def quiet_third_party(handler: logging.Handler | None = None) -> None:
    """Quiet the chatty libraries; when the application has not set up logging (no root
    handler), their warnings go through ``handler`` too, so that they are formatted (JSON
    lines stay JSON) and redacted instead of reaching stderr raw."""
    route = handler is not None and not logging.getLogger().handlers
    for name in THIRD_PARTY:
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.WARNING)
        for h in list(logger.handlers):
            if getattr(h, "_lakestory", False):
                logger.removeHandler(h)
        if route:
            assert handler is not None
            logger.addHandler(handler)


def configure(cfg: LoggingConfig, node_levels: dict[str, str] | None = None) -> None:
    """One handler on the ``lakestory`` logger, on stderr, replacing the previous run's."""
    base = level_number(project_level(cfg))
    per_node = {key: level_number(v) for key, v in (node_levels or {}).items()}
    root = logging.getLogger("lakestory")
    for h in list(root.handlers):
        if getattr(h, "_lakestory", False):
            root.removeHandler(h)
    handler = logging.StreamHandler(sys.stderr)
    handler._lakestory = True  # type: ignore[attr-defined]
    handler.addFilter(ContextFilter(base, per_node))
    colour = use_colour(handler.stream)
    handler.setFormatter(JsonFormatter() if structured(cfg) else TextFormatter(colour))
    root.addHandler(handler)
    # the lowest level of all lets a DEBUG node's lines reach the filter, which decides
    root.setLevel(min([base, *per_node.values()]))
    root.propagate = False
    quiet_third_party(handler)


class LogObserver:
    """Writes one log line per run and node event."""

    def __init__(self) -> None:
        self.run_id = ""
        self.project = ""

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self.run_id, self.project = event.result.run_id, event.result.project
            log.info(
                f"run started: {len(event.node_keys)} nodes",
                extra=self._extra(event="run_started"),
            )
        elif isinstance(event, NodeStarted):
            r = event.record
            log.debug(
                f"node {r.key} started",
                extra=self._extra(event="node_started", pipeline=r.pipeline, node=r.node),
            )
        elif isinstance(event, NodeRetrying):
            self._retrying(event)
        elif isinstance(event, NodeFinished):
            self._finished(event)
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
            took = f" in {res.duration:.2f}s" if res.duration is not None else ""
            log.info(
                f"run {res.status}{took}",
                extra=self._extra(event="run_finished", status=res.status, duration_s=res.duration),
            )

    def _retrying(self, event: NodeRetrying) -> None:
        r = event.record
        message = str(event.error.get("message") or "").split("\n")[0]
        log.warning(
            f"node {r.key} attempt {event.attempt} failed, retrying in {event.delay_s:.1f}s: "
            f"{message}",
            extra=self._extra(
                event="node_retrying",
                pipeline=r.pipeline,
                node=r.node,
                attempt=event.attempt,
                delay_s=event.delay_s,
                error=event.error.get("message"),
            ),
        )

    def _finished(self, event: NodeFinished) -> None:
        r = event.record
        error = (r.error or {}).get("message")
        details = []
        if r.duration is not None:
            details.append(f"in {r.duration:.2f}s")
        if r.rows_read is not None:
            details.append(f"{r.rows_read} rows read")
        if r.rows_written is not None:
            details.append(f"{r.rows_written} written")
        text = f"node {r.key} {r.status}" + (f" ({', '.join(details)})" if details else "")
        if error:
            text += ": " + str(error).split("\n")[0]
        log.log(
            logging.ERROR if r.status == "failed" else logging.INFO,
            text,
            extra=self._extra(
                event="node_finished",
                pipeline=r.pipeline,
                node=r.node,
                status=r.status,
                duration_s=r.duration,
                rows_read=r.rows_read,
                rows_written=r.rows_written,
                error=error,
            ),
        )

    def _extra(self, **fields: Any) -> dict[str, Any]:
        return {"run_id": self.run_id, "project": self.project, **fields}
