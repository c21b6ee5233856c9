"""Log lines of whole runs through the CLI: JSON lines with the run's context on every
line, the format switch, per-node levels, quiet third-party loggers, no secret anywhere.

The CLI runs in-process and the log handler writes to the stderr it finds when the run
starts, so ``result.stderr`` holds the lines; with ``--format json`` the report goes to
stdout and stderr holds only log lines.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lakestory.secrets.redactor import MASK

CANARY = "canary-Pw-0c4b9d33"
PROJECT = """
project: shop
on_error: fail_later
connections:
  raw: {{type: local, base_path: data}}
  lake: {{type: local, base_path: lake}}
logging: {logging}
pipelines:
  - pipeline: shop
    nodes:
      - name: chatty
        read: {{connection: raw, path: people.csv}}
        transform: [{{function: steps.chat, params: {{who: chatty}}}}]{chatty}
        write: {{connection: lake, path: chatty, format: delta}}
      - name: calm
        read: {{connection: raw, path: people.csv}}
        transform: [{{function: steps.chat, params: {{who: calm}}}}]
        write: {{connection: lake, path: calm, format: delta}}
      - name: login
        read: {{connection: raw, path: people.csv}}
        transform: [{{function: steps.fail, params: {{password: "${{DB_PASSWORD}}"}}}}]
"""
STEPS = """
import logging

log = logging.getLogger("lakestory.steps")


def chat(df, who):
    log.debug("debug line from %s", who)
    logging.getLogger("urllib3.connectionpool").info("third-party chatter from %s", who)
    return df


def fail(df, password):
    log.warning("trying password %s", password)
    raise ValueError(f"login refused for {password}")
"""
Cli = Callable[..., Any]
Make = Callable[..., Path]


def shop(project: Make, log_config: str = "{}", chatty: str = "") -> Path:
    yaml = PROJECT.format(logging=log_config, chatty=chatty)
    files = {
        "data/people.csv": "id,age\n1,30\n2,40\n",
        "steps.py": STEPS,
        ".env": f"DB_PASSWORD={CANARY}\n",
    }
    return project(yaml, files) / "lakestory.yaml"


def json_lines(stderr: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stderr.splitlines() if line.strip()]


def test_json_lines_carry_the_context_and_hide_the_secret(project: Make, cli: Cli) -> None:
    path = shop(project, "{level: INFO, structured: true}")
    result = cli("run", path, "--format", "json")
    assert result.exit_code == 1, result.stderr
    assert CANARY not in result.stderr + result.stdout
    lines = json_lines(result.stderr)  # every line is JSON
    run_id = json.loads(result.stdout)["run_id"]
    for line in lines:
        for key in ("timestamp", "level", "event", "run_id", "project", "pipeline", "node"):
            assert key in line, (key, line)
        assert (line["run_id"], line["project"]) == (run_id, "shop")
    events = [line["event"] for line in lines]
    assert events[0] == "run_started" and events[-1] == "run_finished"
    assert events.count("node_finished") == 3
    finished = {line["node"]: line for line in lines if line["event"] == "node_finished"}
    assert finished["chatty"]["pipeline"] == "shop"
    assert finished["chatty"]["rows_read"] == 2 and finished["chatty"]["rows_written"] == 2
    assert finished["chatty"]["duration_s"] > 0
    assert finished["login"]["level"] == "ERROR"
    assert f"login refused for {MASK}" in finished["login"]["error"]
    # a plain log call from inside a node: event "log", the node's context filled in
    [step] = [line for line in lines if line["logger"] == "lakestory.steps"]
    assert (step["event"], step["level"], step["node"]) == ("log", "WARNING", "login")
    assert step["message"] == f"trying password {MASK}"
    run_lines = [line for line in lines if line["event"].startswith("run_")]
    assert all(line["node"] is None and line["pipeline"] is None for line in run_lines)


@pytest.mark.parametrize(
    ("variable", "config", "is_json"),
    [("json", "{structured: false}", True), ("text", "{structured: true}", False)],
)
def test_the_format_variable_wins_over_the_config(
    project: Make, cli: Cli, variable: str, config: str, is_json: bool
) -> None:
    path = shop(project, config)
    result = cli("run", path, "--format", "json", env={"LAKESTORY_LOG_FORMAT": variable})
    assert result.exit_code == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines  # the step's warning at least
    assert all(line.startswith("{") for line in lines) is is_json
    if not is_json:
        shown = f"WARNING lakestory.steps [shop.login]: trying password {MASK}"
        assert any(shown in line for line in lines)
        assert "\x1b[" not in result.stderr  # not a terminal: no colour


def test_a_node_log_level_shows_that_node_s_debug_lines_only(project: Make, cli: Cli) -> None:
    path = shop(project, "{level: WARNING, structured: true}", "\n        log_level: DEBUG")
    result = cli("run", path, "--format", "json")
    lines = json_lines(result.stderr)
    debug = [line for line in lines if line["level"] == "DEBUG"]
    assert debug
    assert {line["node"] for line in debug} == {"chatty"}
    assert any(line["message"] == "debug line from chatty" for line in debug)
    assert not any("from calm" in line["message"] for line in lines)
    # the other nodes keep the project's level: no INFO line for them
    assert not [line for line in lines if line["level"] == "INFO" and line["node"] != "chatty"]


def test_third_party_loggers_are_quieted(
    project: Make, cli: Cli, caplog: pytest.LogCaptureFixture
) -> None:
    path = shop(project, "{level: DEBUG, structured: true}")
    with caplog.at_level(logging.DEBUG):  # an application that logs everything at its root
        result = cli("run", path, "--format", "json")
    assert "third-party chatter" not in result.stderr
    assert not [r for r in caplog.records if r.name.startswith("urllib3")]
    assert any(line["message"] == "debug line from calm" for line in json_lines(result.stderr))
