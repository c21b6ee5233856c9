"""``${SECRET:...}`` in project files: collected with file, line and key, fetched once per
load, substituted, always redacted; failures located and never quoting a value."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from lakestory.api import Project, check_secrets
from lakestory.config.loader import LoadedConfig, load_project_file
from lakestory.core.errors import ConfigError, ConfigErrors
from lakestory.secrets.providers import SecretError
from lakestory.secrets.redactor import MASK, Redactor, current, set_current
from lakestory.secrets.resolve import SecretSettings

HEAD = """project: p
description: {description}
vars:
{vars}
connections:
  raw: {{type: local, base_path: data}}
pipelines:
  - pipeline: p
    nodes:
      - name: a
        read: {{connection: raw, path: a.csv}}
"""


@pytest.fixture(autouse=True)
def _restore_redactor() -> Iterator[None]:
    before = current()
    yield
    set_current(before)


def write(tmp_path: Path, description: str = "d", **variables: str) -> Path:
    lines = "\n".join(f'  {k}: "{v}"' for k, v in variables.items()) or "  none: 0"
    path = tmp_path / "lakestory.yaml"
    path.write_text(HEAD.format(description=description, vars=lines))
    return path


def load(path: Path, **settings: object) -> LoadedConfig:
    return load_project_file(path, environ={}, secrets=SecretSettings(**settings))  # type: ignore[arg-type]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def test_a_callable_answers_bare_names_and_the_callable_provider(tmp_path: Path) -> None:
    pw, token = unique("pw"), unique("tok")
    lookup = {"db_password": pw, "api/token": token}.get
    path = write(tmp_path, pw="${SECRET:db_password}", tok="${SECRET:callable:api/token}")
    loaded = load(path, lookup=lookup)
    assert loaded.config.vars == {"pw": pw, "tok": token}
    assert [s.reason for s in loaded.secret_statuses] == ["ok", "ok"]


def test_a_bare_name_falls_back_to_the_environment_and_dotenv(tmp_path: Path) -> None:
    pw = unique("dotenv")
    (tmp_path / ".env").write_text(f"DB_PASSWORD={pw}\n")
    path = write(tmp_path, a="${SECRET:DB_PASSWORD}", b="${SECRET:env:DB_PASSWORD}")
    loaded = load(path, lookup=lambda name: None)
    assert loaded.config.vars == {"a": pw, "b": pw}


def test_secrets_are_redacted_even_when_they_look_like_settings(tmp_path: Path) -> None:
    """``${PW}`` holding a short word is taken for a setting; ``${SECRET:...}`` never is."""
    path = write(tmp_path, pw="${SECRET:PW}")
    load_project_file(path, environ={"PW": "hunter2"})
    assert current().redact_text("login hunter2") == f"login {MASK}"


def test_a_secret_used_twice_is_fetched_once(tmp_path: Path) -> None:
    calls: list[str] = []

    def lookup(name: str) -> str:
        calls.append(name)
        return unique("v")

    path = write(tmp_path, description='"${SECRET:x}"', a="${SECRET:x}", b="pre-${SECRET:x}")
    loaded = load(path, lookup=lookup)
    assert calls == ["x"]
    assert loaded.config.vars["b"] == "pre-" + loaded.config.vars["a"]
    assert loaded.config.description == loaded.config.vars["a"]


def test_secrets_are_fetched_in_parallel_with_a_timeout(tmp_path: Path) -> None:
    def lookup(name: str) -> str:
        if name == "hang":
            threading.Event().wait(60)
        time.sleep(0.4)
        return unique(name)

    path = write(tmp_path, **{f"s{i}": f"${{SECRET:s{i}}}" for i in range(6)})
    started = time.monotonic()
    load(path, lookup=lookup)
    assert time.monotonic() - started < 2.0  # 6 x 0.4 s one after the other
    path = write(tmp_path, ok="${SECRET:s1}", slow="${SECRET:hang}")
    started = time.monotonic()
    with pytest.raises(SecretError) as err:
        load(path, lookup=lookup, timeout=0.5)
    assert time.monotonic() - started < 2.0
    assert err.value.reason == "timeout"
    assert err.value.where.key == "vars.slow"


def test_a_failure_names_reference_file_line_key_and_provider(tmp_path: Path) -> None:
    path = write(tmp_path, pw="${SECRET:databricks:etl/db-password}")
    with pytest.raises(SecretError) as err:
        load(path)
    e = err.value
    assert (e.where.file, e.where.line, e.where.key) == (str(path), 4, "vars.pw")
    assert e.reason == "unavailable"
    assert "Databricks secret etl/db-password: dbutils is not available here" in e.what
    assert e.hint is not None and "dbutils=" in e.hint
    assert e.exit_code == 2


def test_every_unresolved_secret_is_reported_with_the_other_errors(tmp_path: Path) -> None:
    path = write(tmp_path, a="${SECRET:env:NOPE}", b="${MISSING}", c="${SECRET:keyvalt:v/s}")
    with pytest.raises(ConfigErrors) as err:
        load(path)
    rendered = err.value.render()
    assert "3 problems" in rendered
    assert "environment variable NOPE is not set" in rendered
    assert "environment variable MISSING is not set" in rendered
    assert "unknown secret provider 'keyvalt'" in rendered
    assert "did you mean 'keyvault'?" in rendered


def test_a_failing_lookup_never_quotes_what_it_read(tmp_path: Path) -> None:
    pw = unique("leak")

    def lookup(name: str) -> str:
        raise RuntimeError(f"could not decrypt {pw}")

    path = write(tmp_path, pw="${SECRET:db}")
    with pytest.raises(SecretError) as err:
        load(path, lookup=lookup)
    assert pw not in err.value.render()
    assert "RuntimeError" in err.value.render()


def test_a_prefix_that_is_no_source_points_to_secret_references(tmp_path: Path) -> None:
    path = write(tmp_path, pw="${keyvault:my-vault/db}", b="${secrt:x}")
    with pytest.raises(ConfigErrors) as err:
        load(path)
    first, second = err.value.errors
    assert "no source 'keyvault'" in first.what
    assert first.hint is not None and "${SECRET:keyvault:my-vault/db}" in first.hint
    assert second.hint is not None and second.hint.startswith("did you mean ${SECRET:x}?")


def test_literals_and_other_environments_are_not_fetched(tmp_path: Path) -> None:
    calls: list[str] = []
    path = tmp_path / "lakestory.yaml"
    path.write_text(
        HEAD.format(description='"$${SECRET:literal}"', vars="  a: 1")
        + "environments:\n  prod:\n    description: ${SECRET:prod_only}\n"
    )
    loaded = load(path, lookup=lambda n: calls.append(n) or "x")  # type: ignore[func-returns-value]
    assert loaded.config.description == "${SECRET:literal}"
    assert calls == []


def test_project_load_takes_the_secret_sources(tmp_path: Path) -> None:
    value, scope_value = unique("fn"), unique("dbx")

    class Secrets:
        def get(self, scope: str, key: str) -> str:
            return scope_value

    class Dbutils:
        secrets = Secrets()

    path = write(tmp_path, a="${SECRET:name}", b="${SECRET:databricks:scope/key}")
    project = Project.load(path, environ={}, secrets={"name": value}.get, dbutils=Dbutils())
    assert project.config.vars == {"a": value, "b": scope_value}
    assert current().redact_text(f"{value} {scope_value}") == f"{MASK} {MASK}"


def test_check_secrets_reports_without_failing_or_holding_values(tmp_path: Path) -> None:
    value = unique("ok")
    path = write(tmp_path, a="${SECRET:name}", b="${SECRET:env:NOPE}")
    statuses = check_secrets(path, environ={}, secrets={"name": value}.get)
    assert [(s.provider, s.reference, s.reason) for s in statuses] == [
        ("callable, env", "name", "ok"),
        ("env", "NOPE", "not_found"),
    ]
    assert value not in repr([s.to_dict() for s in statuses])


def test_an_unused_redactor_is_not_reset_by_a_later_load(tmp_path: Path) -> None:
    value = unique("kept")
    load(write(tmp_path, a="${SECRET:n}"), lookup={"n": value}.get)
    set_current(Redactor())
    load_project_file(write(tmp_path), environ={})
    assert value not in current().redact_text(value)


def test_a_bad_reference_has_the_config_error_exit_code(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load(write(tmp_path, a="${SECRET:}"))
    assert err.value.exit_code == 2
    assert "names no secret" in err.value.what


def test_key_vault_connections_are_fetched_when_connecting_not_when_loading(
    tmp_path: Path,
) -> None:
    """``auth_mode: key_vault`` is the storage layer's to fetch (plans need no vault); its
    ``secret:`` names a secret and stays visible."""
    path = tmp_path / "lakestory.yaml"
    path.write_text(
        HEAD.format(description="d", vars="  a: 1").replace(
            "  raw: {type: local, base_path: data}",
            "  raw: {type: local, base_path: data}\n"
            "  lake: {type: azure_adls, account: acct, container: c, auth_mode: key_vault,"
            " key_vault: https://127.0.0.1:9, secret: lake-account-key}",
        )
    )
    loaded = load(path)
    assert loaded.secret_statuses == []
    assert current().redact_text("lake-account-key") == "lake-account-key"


def test_a_timeout_from_the_environment_must_be_a_number(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAKESTORY_SECRETS_TIMEOUT", "soon")
    with pytest.raises(ConfigError, match="is not a number of seconds"):
        load(write(tmp_path, a="${SECRET:x}"), lookup=lambda n: "value")
