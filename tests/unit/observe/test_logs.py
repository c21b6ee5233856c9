"""Log lines: the context every line carries, per-node levels, the JSON and text shapes,
the format switch, quiet third-party loggers and the retry line."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from lakestory.config.models import LoggingConfig
from lakestory.core import logctx
from lakestory.observe import logs
from lakestory.observe.logs import (
    ContextFilter,
    JsonFormatter,
    LogObserver,
    TextFormatter,
    configure,
    structured,
    use_colour,
)
from lakestory.runtime.events import NodeRetrying
from lakestory.runtime.records import NodeRecord


def record(level: int = logging.WARNING, msg: str = "hello", **extra: object) -> logging.LogRecord:
    rec = logging.LogRecord("lakestory.runtime.execute", level, __file__, 1, msg, (), None)
    rec.__dict__.update(extra)
    return rec


@pytest.fixture
def lakestory_logger() -> Iterator[logging.Logger]:
    """The ``lakestory`` logger, restored after the test (configure() changes it)."""
    logger = logging.getLogger("lakestory")
    handlers, level, propagate = list(logger.handlers), logger.level, logger.propagate
    yield logger
    logger.handlers[:] = handlers
    logger.setLevel(level)
    logger.propagate = propagate


# -- the context filter --------------------------------------------------------------------


def test_lines_logged_inside_a_node_carry_the_bound_context() -> None:
    rec = record()
    with logctx.bound(run_id="r1", project="shop"), logctx.bound(pipeline="p", node="a"):
        assert ContextFilter(logging.WARNING).filter(rec)
    line = json.loads(JsonFormatter().format(rec))
    assert {k: line[k] for k in logs.CONTEXT} == {
        "run_id": "r1",
        "project": "shop",
        "pipeline": "p",
        "node": "a",
    }
    assert (line["event"], line["level"], line["message"]) == ("log", "WARNING", "hello")


def test_fields_given_by_the_caller_win_over_the_bound_ones() -> None:
    rec = record(node="b", pipeline="p", event="node_finished")
    with logctx.bound(run_id="r1", pipeline="p", node="a"):
        ContextFilter(logging.WARNING).filter(rec)
    line = json.loads(JsonFormatter().format(rec))
    assert (line["node"], line["run_id"], line["event"]) == ("b", "r1", "node_finished")


def test_a_line_outside_any_run_has_null_context() -> None:
    rec = record()
    ContextFilter(logging.WARNING).filter(rec)
    line = json.loads(JsonFormatter().format(rec))
    assert [line[k] for k in ("event", *logs.CONTEXT)] == ["log", None, None, None, None]
    assert line["timestamp"].endswith("+00:00")


def test_a_node_level_decides_for_that_node_only() -> None:
    only = ContextFilter(logging.WARNING, {"p.debug": logging.DEBUG, "p.quiet": logging.ERROR})
    assert only.filter(record(logging.DEBUG, pipeline="p", node="debug"))
    assert not only.filter(record(logging.DEBUG, pipeline="p", node="other"))
    assert not only.filter(record(logging.INFO))  # no node: the project's level
    assert only.filter(record(logging.WARNING))
    assert not only.filter(record(logging.WARNING, pipeline="p", node="quiet"))
    assert only.filter(record(logging.ERROR, pipeline="p", node="quiet"))
    with logctx.bound(pipeline="p", node="debug"):  # bound by the runner in the node's thread
        assert only.filter(record(logging.DEBUG))


# -- configure -----------------------------------------------------------------------------


def test_configure_lets_a_debug_node_reach_the_filter(
    lakestory_logger: logging.Logger, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    configure(LoggingConfig(level="WARNING"), {"p.a": "DEBUG"})
    assert lakestory_logger.level == logging.DEBUG
    log = logging.getLogger("lakestory.steps")
    with logctx.bound(pipeline="p", node="a"):
        log.debug("a speaks")
    with logctx.bound(pipeline="p", node="b"):
        log.debug("b speaks")
        log.warning("b warns")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert "DEBUG lakestory.steps [p.a]: a speaks" in lines[0]
    assert "WARNING lakestory.steps [p.b]: b warns" in lines[1]


def test_configure_replaces_its_handler_and_keeps_others(lakestory_logger: logging.Logger) -> None:
    other = logging.NullHandler()
    lakestory_logger.addHandler(other)
    configure(LoggingConfig())
    configure(LoggingConfig(level="INFO"))
    ours = [h for h in lakestory_logger.handlers if getattr(h, "_lakestory", False)]
    assert len(ours) == 1 and other in lakestory_logger.handlers
    assert lakestory_logger.level == logging.INFO
    assert not lakestory_logger.propagate


def test_configure_quiets_third_party_loggers_unless_the_application_chose(
    lakestory_logger: logging.Logger,
) -> None:
    chosen = logging.getLogger("botocore")
    saved = {name: logging.getLogger(name).level for name in logs.THIRD_PARTY}
    try:
        for name in logs.THIRD_PARTY:
            logging.getLogger(name).setLevel(logging.NOTSET)
        chosen.setLevel(logging.DEBUG)
        configure(LoggingConfig(level="DEBUG"))
        assert logging.getLogger("urllib3").getEffectiveLevel() == logging.WARNING
        assert logging.getLogger("urllib3.connectionpool").getEffectiveLevel() == logging.WARNING
        assert not logging.getLogger("azure.core").isEnabledFor(logging.INFO)
        assert logging.getLogger("py4j").level == logging.WARNING
        assert chosen.level == logging.DEBUG  # the application's choice stays
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


def test_third_party_warnings_become_redacted_json_lines_when_nobody_else_logs(
    lakestory_logger: logging.Logger,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An exporter's retry warning must not break the JSON lines nor leak a secret."""
    from lakestory.secrets.redactor import Redactor, current, set_current

    monkeypatch.setattr(logging.getLogger(), "handlers", [])
    previous = current()
    set_current(Redactor(["hunter2-secret-token"]))
    otel = logging.getLogger("opentelemetry.exporter.otlp.proto.http.trace_exporter")
    try:
        configure(LoggingConfig(structured=True))
        otel.warning("Transient error to http://u:hunter2-secret-token@collector, retrying")
        otel.info("not shown: third-party loggers are quieted to WARNING")
    finally:
        set_current(previous)
        for name in logs.THIRD_PARTY:
            logger = logging.getLogger(name)
            logger.handlers[:] = [h for h in logger.handlers if not getattr(h, "_lakestory", 0)]
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert len(lines) == 1
    assert lines[0]["logger"].startswith("opentelemetry") and lines[0]["level"] == "WARNING"
    assert "hunter2-secret-token" not in json.dumps(lines[0])


# -- the format ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "config", "expected"),
    [
        (None, False, False),
        (None, True, True),
        ("json", False, True),  # the variable wins ...
        ("JSON", False, True),
        ("text", True, False),  # ... both ways
        ("", True, True),
    ],
)
def test_the_variable_wins_over_the_config(
    monkeypatch: pytest.MonkeyPatch, env: str | None, config: bool, expected: bool
) -> None:
    if env is not None:
        monkeypatch.setenv("LAKESTORY_LOG_FORMAT", env)
    assert structured(LoggingConfig(structured=config)) is expected


def test_text_lines_colour_the_level_only_when_asked() -> None:
    rec = record(logging.ERROR, "boom", pipeline="p", node="a")
    plain = TextFormatter().format(rec)
    assert " ERROR lakestory.runtime.execute [p.a]: boom" in plain
    assert "\x1b[" not in plain
    coloured = TextFormatter(colour=True).format(rec)
    assert "\x1b[31mERROR\x1b[0m lakestory.runtime.execute [p.a]: boom" in coloured


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_colour_for_a_terminal_unless_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert use_colour(_Tty())
    assert not use_colour(io.StringIO())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not use_colour(_Tty())


# -- the observer --------------------------------------------------------------------------


class _Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_a_retry_is_logged_as_a_warning_with_its_attempt_delay_and_error(
    lakestory_logger: logging.Logger,
) -> None:
    lakestory_logger.setLevel(logging.DEBUG)
    now = datetime.now(UTC)
    rec = NodeRecord("p.a", "p", "a", status="running", started_at=now - timedelta(seconds=1))
    error = {"message": "connection reset by peer", "kind": "io"}
    keep, logger = _Keep(), logging.getLogger("lakestory.run")
    logger.addHandler(keep)
    try:
        LogObserver()(NodeRetrying(rec, attempt=1, error=error, delay_s=2.0))
    finally:
        logger.removeHandler(keep)
    [line] = keep.records
    assert line.levelno == logging.WARNING
    assert line.event == "node_retrying"  # type: ignore[attr-defined]
    assert (line.attempt, line.delay_s) == (1, 2.0)  # type: ignore[attr-defined]
    assert line.error == "connection reset by peer"  # type: ignore[attr-defined]
    assert line.getMessage() == (
        "node p.a attempt 1 failed, retrying in 2.0s: connection reset by peer"
    )
    data = json.loads(JsonFormatter().format(line))
    assert (data["attempt"], data["delay_s"], data["node"]) == (1, 2.0, "a")


def test_the_default_level_is_info_for_json_lines_and_warning_for_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LAKESTORY_LOG_FORMAT", raising=False)
    assert logs.project_level(LoggingConfig()) == "WARNING"
    assert logs.project_level(LoggingConfig(structured=True)) == "INFO"
    assert logs.project_level(LoggingConfig(structured=True, level="WARNING")) == "WARNING"
    monkeypatch.setenv("LAKESTORY_LOG_FORMAT", "json")
    assert logs.project_level(LoggingConfig()) == "INFO"
