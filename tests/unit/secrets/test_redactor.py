"""The redactor: known values, secret-looking text, nested data, and no false positives."""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest

from lakestory.cli import output
from lakestory.cli.output import emit_json
from lakestory.config.models.connections import AzureConnection, PostgresConnection, SqlConnection
from lakestory.observe.logs import JsonFormatter, TextFormatter
from lakestory.secrets.redactor import (
    MASK,
    Redactor,
    current,
    is_secret_field,
    secret_env_values,
    secret_fields,
    set_current,
)

R = Redactor()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("key AKIAIOSFODNN7EXAMPLE here", f"key {MASK} here"),
        ("ASIAY34FZKBOKMUTVV7A", MASK),
        (
            "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            f"aws_secret_access_key={MASK}",
        ),
        ('AWS_SECRET_ACCESS_KEY: "abcd1234efgh"', f'AWS_SECRET_ACCESS_KEY: "{MASK}"'),
        ("Authorization: Bearer abc.def.ghi", f"Authorization: {MASK}"),
        ("header authorization=Basic dXNlcjpwYXNz", f"header authorization={MASK}"),
        ("sent Bearer eyAbCdEfGh12345xyz to api", f"sent Bearer {MASK} to api"),
        (
            "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=abc+/123==;"
            "EndpointSuffix=core.windows.net",
            f"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={MASK};"
            "EndpointSuffix=core.windows.net",
        ),
        (
            "BlobEndpoint=x;SharedAccessSignature=sv=2022&sig=abc",
            f"BlobEndpoint=x;SharedAccessSignature={MASK}",
        ),
        (
            "https://acct.blob.core.windows.net/c?sv=2022-11-02&sp=r&sig=AbC%2Bd%3D",
            f"https://acct.blob.core.windows.net/c?sv=2022-11-02&sp=r&sig={MASK}",
        ),
        ("sv=2022-11-02&sig=AbCd", f"sv=2022-11-02&sig={MASK}"),
        ("postgresql://app:s3cr3t@db:5432/shop", f"postgresql://app:{MASK}@db:5432/shop"),
        ("redis://:hunter22@cache", f"redis://:{MASK}@cache"),
        (
            "Server=db;User Id=app;Password=s3cr3t;Database=x",
            f"Server=db;User Id=app;Password={MASK};Database=x",
        ),
        ("Driver={x};UID=app;PWD=s3cr3t;", f"Driver={{x}};UID=app;PWD={MASK};"),
        ("DB_PASSWORD=s3cr3t", f"DB_PASSWORD={MASK}"),
        ('{"client_secret": "abc123xyz"}', f'{{"client_secret": "{MASK}"}}'),
        (
            "x -----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY----- y",
            f"x {MASK} y",
        ),
        ("-----BEGIN PRIVATE KEY-----\nMIIEv (cut short", MASK),
        ("token ghp_" + "a" * 36, f"token {MASK}"),
        ("github_pat_" + "A1" * 20, MASK),
        ("slack xoxb-1234567890-abcdefghij", f"slack {MASK}"),
        ("jwt eyJhbGciOiJI.eyJzdWIiOiIx.SflKxwRJSMeKKF2QT4", f"jwt {MASK}"),
    ],
)
def test_secret_looking_text_is_redacted(text: str, expected: str) -> None:
    assert R.redact_text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "node silver.customers failed after 1.25s: 1,024 rows read",
        "run 3f9a1c0b7d2e4a56 started",  # run ids are 16 hex characters
        "2026-11-29T23:50:00.123456+00:00",
        "id 123e4567-e89b-12d3-a456-426614174000",
        "s3://bucket/raw/orders/2024/01/part-0001.parquet",
        "http://localhost:8080/path@v2",
        'Binder Error: Referenced column "passwrd" not found',
        "the password field is required",
        "Basic statistics need Bearer authentication",
        "a key, a token and a secret",
        "sig is short for signature",
        "AKIA is a prefix",
        "SELECT amount * 2 AS basic FROM t WHERE bearer IS NULL",
        "abfss://container@account.dfs.core.windows.net/path",
        "key connections.db.password: environment variable DB_PASSWORD is not set",
        "secret_access_key: set it in the environment",
    ],
)
def test_ordinary_text_is_kept(text: str) -> None:
    assert R.redact_text(text) == text


def test_known_values_are_hidden_wherever_they_appear() -> None:
    r = Redactor({"hunter2-secret", "abc"})
    assert r.redact_text("x=hunter2-secret;y=abc") == f"x={MASK};y=abc"  # "abc" is too short
    assert r.values == {"hunter2-secret"}


def test_a_secret_containing_another_is_hidden_whole() -> None:
    r = Redactor({"pass", "password123"})
    assert r.redact_text("password123 pass") == f"{MASK} {MASK}"


def test_known_values_with_regex_characters_are_matched_literally() -> None:
    r = Redactor({"a.b*c(d)"})
    assert r.redact_text("see a.b*c(d) not aXbbc") == f"see {MASK} not aXbbc"


def test_add_extends_the_known_values() -> None:
    r = Redactor()
    assert r.redact_text("tok-12345") == "tok-12345"
    r.add(["tok-12345"])
    assert r.redact_text("tok-12345") == MASK


def test_redact_recurses_into_nested_data_and_keeps_other_values() -> None:
    r = Redactor({"s3cr3t-value"})
    data: dict[str, Any] = {
        "message": "failed: s3cr3t-value",
        "rows": 3,
        "nested": [{"text": "s3cr3t-value"}, ("ok", "s3cr3t-value"), None, 1.5],
    }
    assert r.redact(data) == {
        "message": f"failed: {MASK}",
        "rows": 3,
        "nested": [{"text": MASK}, ("ok", MASK), None, 1.5],
    }
    assert data["message"] == "failed: s3cr3t-value"  # the input is not changed


def test_redacting_twice_changes_nothing_more() -> None:
    text = "postgresql://u:pw1234@h password=pw1234 AKIAIOSFODNN7EXAMPLE"
    once = Redactor({"pw1234"}).redact_text(text)
    assert Redactor({"pw1234"}).redact_text(once) == once
    assert "pw1234" not in once


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("password", True),
        ("secret", True),
        ("client_secret", True),
        ("secret_access_key", True),
        ("session_token", True),
        ("account_key", True),
        ("sas_token", True),
        ("connection_string", True),
        ("credentials", True),
        ("access_key_id", False),
        ("client_id", False),
        ("account_name", False),
        ("key_vault", False),
        ("auth_mode", False),
        ("host", False),
    ],
)
def test_secret_field_names(name: str, secret: bool) -> None:
    assert is_secret_field(name) is secret


def test_secret_fields_include_nested_options_and_url_passwords() -> None:
    data = {
        "user": "app",
        "password": "pw-1",
        "options": {"api_key": "k-2"},
        "url": "pg://u:pw-3@h",
    }
    assert secret_fields(data) == {"pw-1", "k-2", "pw-3"}


def test_resolved_values_are_secret_except_locations() -> None:
    values = {
        "s3cr3t-value",
        "/data/lake",
        "./lake",
        "C:\\lake",
        "s3://bucket/raw",
        "abfss://c@acct.dfs.core.windows.net/x",
        "postgresql://app:pw@db/shop",
        "sv=2022&sig=abc",
        "lake",
        "prod",
        "1000",
        "12.5",
        "hunter22",
        "abc1",
    }
    assert secret_env_values(values) == {
        "hunter22",
        "abc1",
        "s3cr3t-value",
        "postgresql://app:pw@db/shop",
        "sv=2022&sig=abc",
    }


@dataclass
class _Cfg:
    connections: dict[str, Any]


@dataclass
class _Loaded:
    config: Any
    secret_values: set[str] = field(default_factory=set)


def test_for_loaded_hides_resolved_values_and_secret_connection_fields() -> None:
    loaded = _Loaded(
        _Cfg(
            {
                "pg": PostgresConnection(type="postgres", username="app", password="pg-pass-1"),
                "az": AzureConnection(
                    type="azure_adls", account="acct", auth_mode="sas", sas_token="sv=1&sig=zz99"
                ),
                "db": SqlConnection(type="sql", url="mssql://sa:url-pass-2@host/db"),
            }
        ),
        {"env-value-3", "/lake/prod"},
    )
    r = Redactor.for_loaded(loaded)
    assert r.values == {"pg-pass-1", "sv=1&sig=zz99", "url-pass-2", "env-value-3"}
    assert r.redact_text("pg-pass-1 url-pass-2 env-value-3 acct app") == (
        f"{MASK} {MASK} {MASK} acct app"
    )


def test_the_current_redactor_is_process_wide() -> None:
    before = current()
    try:
        set_current(Redactor({"canary-xyz"}))
        seen: list[str] = []
        worker = threading.Thread(target=lambda: seen.append(current().redact_text("canary-xyz")))
        worker.start()
        worker.join()
        assert seen == [MASK]
    finally:
        set_current(before)


@pytest.fixture
def canary_redactor() -> Iterator[Redactor]:
    before = current()
    redactor = Redactor({"canary-s3cr3t"})
    set_current(redactor)
    yield redactor
    set_current(before)


def _record(message: str, **extra: Any) -> logging.LogRecord:
    try:
        raise ValueError('bad "canary-s3cr3t" password="canary-s3cr3t"')
    except ValueError:
        exc_info = sys.exc_info()
    record = logging.LogRecord("lakestory.run", logging.ERROR, __file__, 1, message, (), exc_info)
    record.__dict__.update(extra)
    return record


@pytest.mark.usefixtures("canary_redactor")
def test_the_json_log_formatter_redacts_and_stays_json() -> None:
    record = _record(
        'login "canary-s3cr3t" failed', error="AKIAIOSFODNN7EXAMPLE", run_id="0123456789abcdef"
    )
    line = JsonFormatter().format(record)
    assert "canary-s3cr3t" not in line
    assert "AKIAIOSFODNN7EXAMPLE" not in line
    data = json.loads(line)
    assert data["message"] == f'login "{MASK}" failed'
    assert data["error"] == MASK
    assert data["run_id"] == "0123456789abcdef"
    assert f'password="{MASK}"' in data["exception"]


@pytest.mark.usefixtures("canary_redactor")
def test_the_text_log_formatter_redacts_the_message_and_the_traceback() -> None:
    line = TextFormatter().format(_record("login canary-s3cr3t failed"))
    assert "canary-s3cr3t" not in line
    assert f"login {MASK} failed" in line
    assert "ValueError" in line


@pytest.mark.usefixtures("canary_redactor")
def test_emit_json_redacts_every_string(capsys: pytest.CaptureFixture[str]) -> None:
    emit_json({"error": {"message": 'x "canary-s3cr3t"', "when": datetime(2026, 1, 1)}})
    out = capsys.readouterr().out
    assert "canary-s3cr3t" not in out
    assert json.loads(out)["error"] == {"message": f'x "{MASK}"', "when": "2026-01-01 00:00:00"}


@pytest.mark.usefixtures("canary_redactor")
def test_the_cli_consoles_redact_what_they_print(capsys: pytest.CaptureFixture[str]) -> None:
    output.out.print("out canary-s3cr3t")
    output.note("note canary-s3cr3t")
    captured = capsys.readouterr()
    assert "canary-s3cr3t" not in captured.out + captured.err
    assert f"out {MASK}" in captured.out
    assert f"note: note {MASK}" in captured.err
