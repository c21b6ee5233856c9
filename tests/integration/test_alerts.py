"""Alerts end to end: small projects run through the CLI send to an HTTP receiver started
on 127.0.0.1 (tests/support/receiver.py), in Slack's, Teams' or plain JSON shape.

A receiver that is down, hangs or answers 500 costs the run a bounded time and never changes
its exit code; the throttle holds back repeated alerts across runs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lakestory.secrets.redactor import MASK, current, set_current

CANARY = "canary-Pw-51d0e7a2"
TOKEN = "tok-9f8e7d6c5b4a"  # a Bearer token in the headers
HOOK_PATH = "/services/T0001/B0002/XyZsecretWebhookPath"  # like a Slack webhook's token
ALL = "[on_start, on_success, on_failure, on_quarantine, on_gate_block]"

HEAD = """
project: shop
on_error: fail_later
connections:
  raw: {{type: local, base_path: data}}
  lake: {{type: local, base_path: lake}}
alerts:
{alerts}
pipelines:
  - pipeline: shop
    nodes:
      - name: people
        read: {{connection: raw, path: people.csv}}
        validation:
          tests:
            - {{type: range, column: age, min: 0, on_fail: quarantine}}
            - {{type: not_null, columns: [email], on_fail: warn}}
          gate: {{require_pass_rate: 0.95, on_fail: warn_and_write}}
          quarantine: {{connection: lake, path: quarantine/people}}
        write: {{connection: lake, path: people, format: delta}}
"""
FAILING = """
      - name: login
        read: {connection: raw, path: people.csv}
        transform: [{function: steps.fail, params: {password: "${DB_PASSWORD}"}}]
"""
STEPS = """
def fail(df, password):
    raise ValueError(f"login refused for {password}")
"""
# 10 people: one with a negative age (quarantined), one without email (warned): 80% pass
PEOPLE = "id,email,age\n" + "".join(f"{i},p{i}@x.com,{20 + i}\n" for i in range(1, 9))
PEOPLE += "9,,29\n10,p10@x.com,-1\n"

Cli = Callable[..., Any]
Make = Callable[..., Path]
Start = Callable[..., Any]


@pytest.fixture(autouse=True)
def _restore_redactor() -> Iterator[None]:
    before = current()
    yield
    set_current(before)


def alert(kind: str, url: str, events: str = ALL, **extra: str) -> str:
    more = "".join(f", {k}: {v}" for k, v in extra.items())
    return f"  - {{type: {kind}, url: '{url}{HOOK_PATH}', on_events: {events}{more}}}\n"


def shop(project: Make, alerts: str, failing: bool = True, logging: str = "") -> Path:
    yaml = HEAD.format(alerts=alerts.rstrip("\n")) + (FAILING if failing else "") + logging
    files = {
        "data/people.csv": PEOPLE,
        "steps.py": STEPS,
        ".env": f"DB_PASSWORD={CANARY}\nALERT_TOKEN={TOKEN}\n",
    }
    return project(yaml, files) / "lakestory.yaml"


def by_kind(bodies: list[dict[str, Any]], key: Callable[[dict[str, Any]], str]) -> dict:
    return {key(b): b for b in bodies}


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        assert CANARY not in text
        assert TOKEN not in text
        assert HOOK_PATH not in text


# -- each event, in each service's shape ---------------------------------------------------


def test_webhook_alerts_carry_the_run_as_plain_json(
    project: Make, cli: Cli, receiver: Start
) -> None:
    rx = receiver("ok")
    auth = "{Authorization: 'Bearer ${ALERT_TOKEN}'}"
    path = shop(project, alert("webhook", rx.url, headers=auth))
    result = cli("run", path)
    assert result.exit_code == 1, result.stderr
    requests = rx.requests(wait_for=4)
    assert {r["path"] for r in requests} == {HOOK_PATH}
    assert all(r["headers"]["authorization"] == f"Bearer {TOKEN}" for r in requests)
    assert all(r["headers"]["content-type"] == "application/json" for r in requests)
    sent = by_kind([json.loads(r["body"]) for r in requests], lambda b: b["event"])
    assert set(sent) == {"on_start", "on_quarantine", "on_gate_block", "on_failure"}
    failure = sent["on_failure"]
    assert failure["project"] == "shop"
    assert failure["pipelines"] == ["shop"]
    assert "env" in failure
    assert failure["status"] == "failed"
    assert len(failure["run_id"]) == 16
    assert {b["run_id"] for b in sent.values()} == {failure["run_id"]}
    [failed] = failure["failed_nodes"]
    assert failed["node"] == "shop.login"
    assert f"login refused for {MASK}" in failed["error"]
    assert failure["rows"] == {"read": 20, "written": 9, "quarantined": 1}
    assert failure["nodes"] == {"total": 2, "success": 1, "failed": 1}
    story = Path(failure["story"])
    assert story.suffix == ".html" and story.exists()
    assert sent["on_start"]["status"] == "running"
    assert sent["on_quarantine"]["quarantine"] == {"rows": 1, "target": "lake:quarantine/people"}
    assert sent["on_quarantine"]["node"] == "shop.people"
    assert sent["on_gate_block"]["gate"]["action"] == "warn_and_write"
    assert_no_secret(*(r["body"] for r in requests), result.stdout, result.stderr)


def test_slack_alerts_are_incoming_webhook_blocks(project: Make, cli: Cli, receiver: Start) -> None:
    rx = receiver("ok")
    result = cli("run", shop(project, alert("slack", rx.url)))
    assert result.exit_code == 1, result.stderr
    bodies = rx.bodies(wait_for=4)
    assert len(bodies) == 4
    for body in bodies:
        assert isinstance(body["text"], str) and body["text"]
        assert body["blocks"][0]["type"] == "header"
        assert body["blocks"][1]["type"] == "section"
        assert all(f["type"] == "mrkdwn" for f in body["blocks"][1]["fields"])
    [failure] = [b for b in bodies if "run failed" in b["text"]]
    text = json.dumps(failure)
    assert "*Project*\\nshop" in text and "*Status*\\nfailed" in text
    assert "shop.login" in failure["text"] and MASK in failure["text"]
    failed = [b for b in failure["blocks"] if "Failed nodes" in b.get("text", {}).get("text", "")]
    assert f"login refused for {MASK}" in failed[0]["text"]["text"]
    context = failure["blocks"][-1]
    assert context["type"] == "context"
    story = context["elements"][0]["text"].removeprefix("Story: ")
    assert Path(story).exists()
    assert_no_secret(json.dumps(bodies), result.stdout, result.stderr)


def test_teams_alerts_are_adaptive_cards(project: Make, cli: Cli, receiver: Start) -> None:
    rx = receiver("ok")
    result = cli("run", shop(project, alert("teams", rx.url, "[on_failure]")))
    assert result.exit_code == 1, result.stderr
    [body] = rx.bodies(wait_for=1)
    assert body["type"] == "message"
    [attachment] = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"]
    title, facts, *rest = card["body"]
    assert "run failed" in title["text"]
    shown = {f["title"]: f["value"] for f in facts["facts"]}
    assert shown["Project"] == "shop" and shown["Status"] == "failed"
    assert shown["Pipelines"] == "shop" and len(shown["Run"]) == 16
    assert shown["Rows"] == "20 read, 9 written, 1 quarantined"
    texts = [b["text"] for b in rest]
    assert any(t.startswith("shop.login: ") and f"login refused for {MASK}" in t for t in texts)
    assert Path(texts[-1].removeprefix("Story: ")).exists()
    assert_no_secret(json.dumps(body), result.stdout, result.stderr)


def test_a_successful_run_sends_on_success_only_when_asked(
    project: Make, cli: Cli, receiver: Start
) -> None:
    rx = receiver("ok")
    alerts = alert("webhook", rx.url, "[on_success, on_failure]")
    result = cli("run", shop(project, alerts, failing=False))
    assert result.exit_code == 0, result.stderr
    [body] = rx.bodies(wait_for=1)
    time.sleep(0.3)
    assert len(rx.requests()) == 1  # no on_start, quarantine or gate alert
    assert (body["event"], body["status"], body["failed_nodes"]) == ("on_success", "success", [])
    assert Path(body["story"]).exists()


# -- receivers that fail: the run is unaffected --------------------------------------------


def test_a_receiver_that_is_down_costs_little_and_changes_nothing(
    project: Make, cli: Cli, receiver: Start
) -> None:
    rx = receiver("down")
    started = time.monotonic()
    result = cli("run", shop(project, alert("slack", rx.url, "[on_start, on_failure]")))
    took = time.monotonic() - started
    assert result.exit_code == 1, result.stderr
    host = rx.url.removeprefix("http://")
    assert f"alert on_failure to {host} not sent after 2 attempt(s)" in result.stderr
    assert_no_secret(result.stdout, result.stderr)
    assert took < 15  # a refused connection fails at once: only the retry pause is spent


def test_a_receiver_that_hangs_costs_at_most_about_two_timeouts(
    project: Make, cli: Cli, receiver: Start
) -> None:
    rx = receiver("hang")
    result = cli("run", shop(project, alert("webhook", rx.url, "[on_failure]", timeout="2s")))
    ended = time.time()
    assert result.exit_code == 1, result.stderr
    requests = rx.requests(wait_for=2)
    assert len(requests) == 2  # the send and its one retry
    spent = ended - requests[0]["time"]  # the alert is sent when the run ends
    assert spent < 3 * 2.0, spent  # the bound is 2 × timeout + the retry pause (4.5 s)
    assert "not sent after 2 attempt(s): no answer within 2s" in result.stderr
    assert_no_secret(result.stdout, result.stderr)


def test_a_failing_receiver_is_retried_once(project: Make, cli: Cli, receiver: Start) -> None:
    rx = receiver("fail")
    result = cli("run", shop(project, alert("teams", rx.url, "[on_failure]")))
    assert result.exit_code == 1, result.stderr
    requests = rx.requests(wait_for=2)
    time.sleep(0.3)
    assert len(rx.requests()) == 2
    assert requests[1]["time"] - requests[0]["time"] >= 0.4  # after the retry pause
    assert requests[0]["body"] == requests[1]["body"]
    assert "not sent after 2 attempt(s): HTTP 500" in result.stderr


# -- the throttle --------------------------------------------------------------------------


def test_the_throttle_holds_back_repeats_within_its_window(
    project: Make, cli: Cli, receiver: Start
) -> None:
    rx = receiver("ok")
    path = shop(
        project,
        alert("webhook", rx.url, "[on_failure]", throttle="1h"),
        logging="logging: {level: INFO}\n",
    )
    assert cli("run", path).exit_code == 1
    assert len(rx.requests(wait_for=1)) == 1
    second = cli("run", path)
    assert second.exit_code == 1
    assert "alert on_failure to " in second.stderr and "suppressed by its throttle" in second.stderr
    assert "1 suppressed since" in second.stderr
    assert len(rx.requests()) == 1
    # the window has passed: move the last send two hours back
    state = path.parent / ".lakestory" / "alerts.json"
    data = json.loads(state.read_text())
    assert all(HOOK_PATH not in key for key in data["entries"])  # the URL is not stored
    for entry in data["entries"].values():
        entry["sent"] -= 7200
    state.write_text(json.dumps(data))
    assert cli("run", path).exit_code == 1
    bodies = rx.bodies(wait_for=2)
    assert len(bodies) == 2
    assert bodies[1]["suppressed"] == 1  # the one held back is counted in the next alert


def test_a_short_throttle_lets_the_next_alert_through(
    project: Make, cli: Cli, receiver: Start
) -> None:
    rx = receiver("ok")
    path = shop(project, alert("webhook", rx.url, "[on_failure]", throttle="1s"))
    cli("run", path)
    time.sleep(1.1)
    cli("run", path)
    assert len(rx.requests(wait_for=2)) == 2


def test_a_corrupt_throttle_file_is_ignored(project: Make, cli: Cli, receiver: Start) -> None:
    rx = receiver("ok")
    path = shop(project, alert("webhook", rx.url, "[on_failure]", throttle="1h"))
    state = path.parent / ".lakestory" / "alerts.json"
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_text("{not json")
    result = cli("run", path)
    assert result.exit_code == 1
    assert len(rx.requests(wait_for=1)) == 1
    assert json.loads(state.read_text())["version"] == 1  # rewritten whole
