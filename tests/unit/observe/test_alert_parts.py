"""Alert pieces without a network: the throttle state, the payload shapes, what logs may
say about a destination, the retry rule and the end-of-run budget."""

from __future__ import annotations

import json
import time
import urllib.error
from datetime import UTC, datetime, timedelta
from email.message import Message
from pathlib import Path
from typing import Any

import pytest

from lakestory.config.models import AlertConfig
from lakestory.observe import alerts
from lakestory.observe.alerts import (
    AlertObserver,
    Job,
    Sender,
    ThrottleState,
    run_facts,
    slack_payload,
    teams_payload,
)
from lakestory.runtime.events import RunFinished, RunStarted
from lakestory.runtime.records import NodeRecord, RunResult
from lakestory.secrets.redact import host_of

URL = "https://hooks.slack.com/services/T000/B000/secretToken123"


def result(status: str = "failed", failed: int = 1) -> RunResult:
    t = datetime(2026, 11, 30, 6, tzinfo=UTC)
    nodes = [
        NodeRecord("p.ok", "p", "ok", "success", t, t + timedelta(seconds=2), 5, 5, 4),
        *(
            NodeRecord(
                f"p.bad{i}",
                "p",
                f"bad{i}",
                "failed",
                t,
                t,
                error={"message": f"<boom> & {i}\nsecond line", "kind": "user"},
            )
            for i in range(failed)
        ),
    ]
    return RunResult(
        "r1", "shop", None, t, t + timedelta(seconds=3), status, nodes, ["p"], {"story": "/s.html"}
    )


# -- the throttle state --------------------------------------------------------------------


def test_the_throttle_sends_once_per_window_and_counts_the_rest(tmp_path: Path) -> None:
    state = ThrottleState(tmp_path / ".lakestory" / "alerts.json")
    assert state.claim("k", 60, 1000.0) == (True, 0, 0.0)
    assert state.claim("k", 60, 1010.0) == (False, 1, 1000.0)
    assert state.claim("k", 60, 1020.0) == (False, 2, 1000.0)
    assert state.claim("other", 60, 1020.0)[0]  # another key has its own window
    assert state.claim("k", 60, 1061.0) == (True, 2, 1000.0)  # 2 held back since
    assert state.claim("k", 60, 1062.0) == (False, 1, 1061.0)
    assert list(tmp_path.joinpath(".lakestory").iterdir()) == [state.path]  # no temp left


def test_a_failed_send_gives_its_window_back(tmp_path: Path) -> None:
    state = ThrottleState(tmp_path / "alerts.json")
    state.claim("k", 60, 1000.0)
    state.release("k", 1000.0, 0.0)
    assert state.claim("k", 60, 1001.0)[0]


@pytest.mark.parametrize("text", ["{not json", "[]", '{"entries": 3}', ""])
def test_a_corrupt_state_file_counts_as_empty(tmp_path: Path, text: str) -> None:
    path = tmp_path / "alerts.json"
    path.write_text(text)
    state = ThrottleState(path)
    assert state.claim("k", 60, time.time())[0]
    assert "k" in json.loads(path.read_text())["entries"]


def test_old_entries_are_forgotten(tmp_path: Path) -> None:
    state = ThrottleState(tmp_path / "alerts.json")
    state.claim("old", 60, 1000.0)
    state.claim("new", 60, 1000.0 + alerts.STATE_KEEP_S + 1)
    assert list(json.loads(state.path.read_text())["entries"]) == ["new"]


# -- payloads ------------------------------------------------------------------------------


def test_run_facts_carry_the_run() -> None:
    facts = run_facts("on_failure", result())
    assert facts["status"] == "failed" and facts["story"] == "/s.html"
    assert facts["rows"] == {"read": 5, "written": 4, "quarantined": 0}
    assert facts["failed_nodes"] == [
        {"node": "p.bad0", "error": "<boom> & 0\nsecond line", "kind": "user"}
    ]
    assert run_facts("on_start", result())["status"] == "running"


def test_many_failures_are_listed_up_to_a_limit() -> None:
    facts = run_facts("on_failure", result(failed=alerts.MAX_LISTED + 3))
    assert len(facts["failed_nodes"]) == alerts.MAX_LISTED
    assert facts["more_failed_nodes"] == 3
    slack = slack_payload({**facts, "suppressed": 0})
    assert "... and 3 more" in slack["blocks"][2]["text"]["text"]
    assert all(len(b.get("text", {}).get("text", "")) <= 3000 for b in slack["blocks"])


def test_slack_text_escapes_its_control_characters() -> None:
    slack = slack_payload({**run_facts("on_failure", result()), "suppressed": 2})
    failed = slack["blocks"][2]["text"]["text"]
    assert "&lt;boom&gt; &amp; 0" in failed
    fields = [f["text"] for f in slack["blocks"][1]["fields"]]
    assert "*Suppressed*\n2 similar alerts since the last one" in fields
    assert len(fields) <= 10


def test_teams_is_one_adaptive_card() -> None:
    card = teams_payload({**run_facts("on_success", result("success", 0)), "suppressed": 0})
    [attachment] = card["attachments"]
    body = attachment["content"]["body"]
    assert body[0]["color"] == "Good" and "run succeeded" in body[0]["text"]
    assert body[-1]["text"] == "Story: /s.html"


# -- sending -------------------------------------------------------------------------------


def test_logs_name_the_host_only() -> None:
    assert host_of(URL) == "hooks.slack.com"
    assert host_of("http://user:pw@127.0.0.1:8080/x?token=1") == "127.0.0.1:8080"
    assert host_of("not a url") == "?"


def _http_error(code: int) -> urllib.error.HTTPError:
    return urllib.error.HTTPError("http://x", code, "no", Message(), None)


@pytest.mark.parametrize(
    ("error", "attempts"),
    [
        (_http_error(500), 2),
        (_http_error(429), 2),
        (urllib.error.URLError(ConnectionRefusedError(111, "Connection refused")), 2),
        (urllib.error.URLError(TimeoutError("timed out")), 2),
        (_http_error(404), 1),  # a wrong URL stays wrong
        (ValueError("unknown url type"), 2),
    ],
)
def test_one_retry_for_what_may_pass_next_time(
    monkeypatch: pytest.MonkeyPatch, error: Exception, attempts: int
) -> None:
    monkeypatch.setattr(alerts, "RETRY_PAUSE", 0.01)
    calls: list[float] = []

    def post(url: str, payload: dict[str, Any], headers: dict[str, str], timeout: float) -> None:
        calls.append(timeout)
        raise error

    released: list[bool] = []
    sender = Sender(AlertConfig(type="webhook", url=URL, timeout="2s"), post)  # type: ignore[arg-type]
    sender.put(Job("on_failure", {}, "r1", "shop", release=lambda: released.append(True)))
    assert sender.wait(time.monotonic() + 5) == 0
    assert calls == [2.0] * attempts
    assert released == [True]  # a failed send does not hold the throttle window


def test_what_is_not_sent_in_the_budget_is_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[str] = []

    def slow(url: str, payload: dict[str, Any], headers: dict[str, str], timeout: float) -> None:
        time.sleep(0.3)
        sent.append(payload["n"])

    sender = Sender(AlertConfig(type="webhook", url=URL), slow)
    for n in ("a", "b", "c"):
        sender.put(Job("on_quarantine", {"n": n}, "r1", "shop"))
    assert sender.wait(time.monotonic() + 0.1) == 3
    time.sleep(0.5)
    assert sent == ["a"]  # the one in flight finished; the others were dropped
    assert sender._thread is not None
    sender._thread.join(1)
    assert not sender._thread.is_alive()  # the thread ends with the run


def test_the_run_waits_at_most_two_timeouts_and_the_pause(tmp_path: Path) -> None:
    configs = [
        AlertConfig(type="slack", url=URL, timeout=timedelta(seconds=1)),
        AlertConfig(type="webhook", url="http://127.0.0.1:9/x", timeout=timedelta(seconds=3)),
    ]
    observer = AlertObserver(configs, ThrottleState(tmp_path / "alerts.json"))
    assert observer.budget() == 2 * 3 + alerts.RETRY_PAUSE + alerts.DRAIN_SLACK


def test_the_observer_maps_run_events_to_alert_kinds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[tuple[str, dict[str, Any]]] = []

    def post(url: str, payload: dict[str, Any], headers: dict[str, str], timeout: float) -> None:
        sent.append((url, payload))

    monkeypatch.setattr(alerts, "post_json", post)
    events = ["on_start", "on_success", "on_failure"]
    cfg = AlertConfig(type="webhook", url=URL, on_events=events)  # type: ignore[arg-type]
    for status in ("success", "failed", "aborted"):
        sent.clear()
        observer = AlertObserver([cfg], ThrottleState(tmp_path / "alerts.json"))
        run = result(status)
        observer(RunStarted(run, ()))
        observer(RunFinished(run))
        kinds = [payload["event"] for _, payload in sent]
        assert kinds == ["on_start", "on_success" if status == "success" else "on_failure"]
        assert all(payload["suppressed"] == 0 for _, payload in sent)
