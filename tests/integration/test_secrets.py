"""Secrets against a Key Vault stand-in (tests/support/keyvault.py) that the real
``SecretClient`` and ``ClientSecretCredential`` talk to over HTTPS on 127.0.0.1: project
references, ``get_secret`` for key_vault connections, errors, ``lakestory secrets check``,
and canaries proving a Key Vault value never leaves a run in clear text."""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lakestory.api import Project
from lakestory.secrets import keyvault
from lakestory.secrets.providers import SecretError, SecretFetchError
from lakestory.secrets.redactor import MASK, current, set_current
from support.canary import STEPS, TEXT_SUFFIXES
from support.keyvault import KeyVaultStandIn


@pytest.fixture(autouse=True)
def _restore_redactor() -> Iterator[None]:
    before = current()
    yield
    set_current(before)


@pytest.fixture
def vault(monkeypatch: pytest.MonkeyPatch) -> Iterator[KeyVaultStandIn]:
    """The stand-in with fresh secret values, trusted through ``REQUESTS_CA_BUNDLE`` (which
    azure-core's transport honours), its credential set for the process."""
    values = {
        "db-password": f"kv-Pw-{uuid.uuid4().hex[:12]}",
        "api-token": f"kv-Tok-{uuid.uuid4().hex[:12]}",
        "lake-key": f"kv-Key-{uuid.uuid4().hex[:12]}",
    }
    with KeyVaultStandIn(values, denied={"forbidden"}, hang={"slow"}) as standin:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(standin.ca_file))
        keyvault.set_credential(standin.credential())
        keyvault.clear_cache()
        yield standin
        keyvault.set_credential(None)
        keyvault.clear_cache()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


PROJECT = """
project: kv
description: "${{SECRET:keyvault:{url}/db-password}}"
connections:
  raw: {{type: local, base_path: data}}
vars:
  password: "${{SECRET:keyvault:{url}/db-password}}"
  token: "Bearer-ish ${{SECRET:keyvault:{url}/api-token}}"
pipelines:
  - pipeline: p
    nodes:
      - name: a
        read: {{connection: raw, path: a.csv}}
"""


# ---------------------------------------------------------------------------- Key Vault


def test_get_secret_reads_through_the_real_client_once(vault: KeyVaultStandIn) -> None:
    value = keyvault.get_secret(vault.url, "db-password")
    assert value == vault.secrets["db-password"]
    assert keyvault.get_secret(vault.url, "db-password") == value  # from the load's cache
    assert [r.path for r in vault.secret_requests()] == ["/secrets/db-password/"]
    # the challenge came first, then a token from the stand-in's token endpoint
    assert [(r.method, r.authorized) for r in vault.requests[:3]] == [
        ("GET", False),
        ("GET", False),
        ("POST", False),
    ]
    assert current().redact_text(f"key={value}") == f"key={MASK}"


def test_a_project_fetches_each_key_vault_secret_once(
    vault: KeyVaultStandIn, tmp_path: Path
) -> None:
    path = tmp_path / "lakestory.yaml"
    path.write_text(PROJECT.format(url=vault.url))
    project = Project.load(path, environ={}, azure_credential=vault.credential())
    assert project.config.description == vault.secrets["db-password"]
    assert project.config.vars == {
        "password": vault.secrets["db-password"],
        "token": "Bearer-ish " + vault.secrets["api-token"],
    }
    fetched = sorted(r.path for r in vault.secret_requests())
    assert fetched == ["/secrets/api-token/", "/secrets/db-password/"]
    # a new load asks again (a rotated secret is picked up by the next run)
    vault.secrets["db-password"] = "rotated-" + vault.secrets["db-password"]
    again = Project.load(path, environ={})
    assert again.config.vars["password"] == vault.secrets["db-password"]


@pytest.mark.parametrize(
    ("secret", "reason", "message"),
    [
        ("missing", "not_found", "secret 'missing' is not in Key Vault https://127.0.0.1:"),
        ("forbidden", "denied", "answered 403 for secret 'forbidden'"),
        ("slow", "timeout", "/slow}: the keyvault provider did not answer within 3 s"),
    ],
)
def test_key_vault_failures_are_located_and_say_what_to_do(
    vault: KeyVaultStandIn, tmp_path: Path, secret: str, reason: str, message: str
) -> None:
    path = tmp_path / "lakestory.yaml"
    path.write_text(
        PROJECT.format(url=vault.url).replace("api-token", secret),
    )
    started = time.monotonic()
    with pytest.raises(SecretError) as err:
        Project.load(path, environ={}, secrets_timeout=3)
    assert time.monotonic() - started < 8
    e = err.value
    assert e.reason == reason
    assert message in e.what
    assert (e.where.file, e.where.line, e.where.key) == (str(path), 8, "vars.token")
    assert e.hint
    rendered = e.render()
    assert all(v not in rendered for v in vault.secrets.values())


def test_a_wrong_client_secret_is_denied_without_quoting_it(vault: KeyVaultStandIn) -> None:
    keyvault.set_credential(vault.credential(client_secret="not-the-client-secret"))
    with pytest.raises(SecretFetchError) as err:
        keyvault.get_secret(vault.url, "db-password")
    assert err.value.reason == "denied"
    assert (
        f"no Azure token to read secret 'db-password' from Key Vault {vault.url}: "
        "the credential was refused (ClientAuthenticationError)"
    ) == err.value.what
    assert "az login" in (err.value.hint or "")
    assert "not-the-client-secret" not in str(err.value) + (err.value.hint or "")


def test_an_unreachable_vault_fails_fast() -> None:
    url = f"https://127.0.0.1:{_free_port()}"
    started = time.monotonic()
    with pytest.raises(SecretFetchError) as err:
        keyvault.get_secret(url, "db-password", timeout=5, credential=object())
    assert time.monotonic() - started < 5
    assert err.value.reason == "unreachable"
    assert f"Key Vault {url} is not reachable" in str(err.value)


# ---------------------------------------------------------------------------- secrets check

CHECKED = """
project: checked
connections:
  raw: {{type: local, base_path: data}}
  lake:
    type: azure_adls
    account: devstoreaccount1
    auth_mode: key_vault
    key_vault: "{url}"
    secret: {lake_secret}
vars:
  password: "${{SECRET:keyvault:{url}/db-password}}"
  local: "${{SECRET:env:LOCAL_PW}}"
pipelines:
  - pipeline: p
    nodes:
      - name: a
        read: {{connection: raw, path: a.csv}}
"""


def _checked(project: Callable[..., Path], url: str, lake_secret: str) -> Path:
    root = project(
        CHECKED.format(url=url, lake_secret=lake_secret), {".env": "LOCAL_PW=local-pw-123\n"}
    )
    return root / "lakestory.yaml"


def test_secrets_check_lists_every_secret_as_ok(
    vault: KeyVaultStandIn, project: Callable[..., Path], cli: Callable[..., Any]
) -> None:
    path = _checked(project, vault.url, "lake-key")
    result = cli("secrets", "check", path.relative_to(Path.cwd()))
    assert result.exit_code == 0, result.stdout + result.stderr
    rows = [line for line in result.stdout.splitlines() if "│" in line]
    assert len(rows) == 3
    assert "keyvault" in rows[0] and f"{vault.url}/db-password" in rows[0]
    assert "proj/lakestory.yaml:11:14" in rows[0] and "vars.password" in rows[0] and "ok" in rows[0]
    assert "env" in rows[1] and "LOCAL_PW" in rows[1] and "vars.local" in rows[1]
    assert f"{vault.url}/lake-key" in rows[2] and "connections.lake.secret" in rows[2]
    assert "3 secret references: 3 ok" in result.stdout
    shown = result.stdout + result.stderr
    assert all(v not in shown for v in [*vault.secrets.values(), "local-pw-123"])


def test_secrets_check_names_what_does_not_resolve(
    vault: KeyVaultStandIn, project: Callable[..., Path], cli: Callable[..., Any]
) -> None:
    path = _checked(project, vault.url, "no-such-key")
    text = cli("secrets", "check", path)
    assert text.exit_code == 1
    assert "not_found" in text.stdout
    assert "secret 'no-such-key' is not in Key Vault" in text.stderr
    assert "1 not resolved" in text.stdout
    result = cli("secrets", "check", path, "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert [(s["provider"], s["status"]) for s in report["secrets"]] == [
        ("keyvault", "ok"),
        ("env", "ok"),
        ("keyvault", "not_found"),
    ]
    assert report["secrets"][2]["key"] == "connections.lake.secret"
    assert all("value" not in s for s in report["secrets"])
    assert all(v not in result.stdout for v in vault.secrets.values())


def test_secrets_check_of_an_invalid_project_is_a_config_error(
    project: Callable[..., Path], cli: Callable[..., Any]
) -> None:
    root = project("project: x\npipelines: nope\n")
    result = cli("secrets", "check", root / "lakestory.yaml")
    assert result.exit_code == 2


# ---------------------------------------------------------------------------- canaries

CANARY_PROJECT = """
project: canary
connections:
  raw: {{type: local, base_path: data}}
story: {{path: stories}}
pipelines:
  - pipeline: p
    nodes:
      - name: ok
        read: {{connection: raw, path: a.csv}}
        transform: [{{function: steps.announce, params: {{password: "{ref}"}}}}]
        write: {{connection: raw, path: out/ok.parquet}}
      - name: bad
        read: {{connection: raw, path: a.csv}}
        transform: [{{function: steps.fail, params: {{password: "{ref}"}}}}]
"""


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_key_vault_value_never_leaves_a_run(
    vault: KeyVaultStandIn,
    project: Callable[..., Path],
    cli: Callable[..., Any],
    fmt: str,
) -> None:
    canary = vault.secrets["db-password"]
    ref = f"${{SECRET:keyvault:{vault.url}/db-password}}"
    root = project(
        CANARY_PROJECT.format(ref=ref), {"data/a.csv": "id,amount\n1,10\n", "steps.py": STEPS}
    )
    result = cli(
        "run",
        root / "lakestory.yaml",
        "--format",
        fmt,
        "--on-error",
        "fail_later",
        env={"LAKESTORY_LOG_FORMAT": "json" if fmt == "json" else "text"},
    )
    assert result.exit_code == 1, result.stderr
    shown = result.stdout + result.stderr
    assert "login refused for" in shown  # the failure is reported ...
    assert canary not in shown  # ... without the value
    assert MASK in shown
    written = {
        str(p.relative_to(root)): p.read_text("utf-8", errors="replace")
        for p in root.rglob("*")
        if p.is_file() and p.suffix in TEXT_SUFFIXES
    }
    assert any(name.startswith("stories") for name in written)  # the story was written
    assert [name for name, text in written.items() if canary in text] == []
    assert [r.path for r in vault.secret_requests()] == ["/secrets/db-password/"]


def test_secrets_check_of_a_project_without_secrets(
    project: Callable[..., Path], cli: Callable[..., Any]
) -> None:
    root = project(
        """
        project: plain
        connections:
          raw: {type: local, base_path: data}
        pipelines:
          - pipeline: p
            nodes:
              - name: a
                read: {connection: raw, path: a.csv}
        """
    )
    result = cli("secrets", "check", root / "lakestory.yaml")
    assert result.exit_code == 0
    assert "no secrets referenced" in result.stdout
    result = cli("secrets", "check", root / "lakestory.yaml", "--json")
    assert json.loads(result.stdout)["secrets"] == []


class BogusToken:
    """A TokenCredential whose tokens the vault does not accept."""

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        return AccessToken("not-a-token-the-vault-issued", int(time.time()) + 3600)


def test_a_token_the_vault_refuses_is_denied(vault: KeyVaultStandIn) -> None:
    with pytest.raises(SecretFetchError) as err:
        keyvault.get_secret(vault.url, "db-password", credential=BogusToken())
    assert err.value.reason == "denied"
    assert err.value.what == (
        f"Key Vault {vault.url} refused the request for secret 'db-password' (HTTP 401)"
    )
    assert "Key Vault Secrets User" in (err.value.hint or "")


def test_key_vault_secrets_are_fetched_in_parallel(tmp_path: Path) -> None:
    """Eight secrets from a vault that takes 0.5 s per answer: one after the other would
    take 4 s."""
    names = [f"s{i}" for i in range(6)] + ["db-password", "api-token"]  # PROJECT's two
    with KeyVaultStandIn({n: f"v-{n}-{uuid.uuid4().hex[:8]}" for n in names}, delay=0.5) as kv:
        keyvault.set_credential(kv.credential())
        keyvault.clear_cache()
        try:
            lines = "\n".join(f'  {n}: "${{SECRET:keyvault:{kv.url}/{n}}}"' for n in names[:6])
            path = tmp_path / "lakestory.yaml"
            path.write_text(PROJECT.format(url=kv.url).replace("vars:\n", f"vars:\n{lines}\n"))
            with pytest.MonkeyPatch.context() as mp:
                mp.setenv("REQUESTS_CA_BUNDLE", str(kv.ca_file))
                started = time.monotonic()
                project = Project.load(path, environ={})
                elapsed = time.monotonic() - started
        finally:
            keyvault.set_credential(None)
    assert {n: project.config.vars[n] for n in names[:6]} == {n: kv.secrets[n] for n in names[:6]}
    assert project.config.vars["password"] == kv.secrets["db-password"]
    assert elapsed < 3.0
    # the first request got the token; the others waited for it instead of each asking
    assert [r.method for r in kv.requests].count("POST") == 1


def test_an_adls_connection_with_auth_mode_key_vault_reads_its_key_from_the_vault(
    vault: KeyVaultStandIn, azurite: Any, azure_container: str, tmp_path: Path
) -> None:
    """The storage layer's ``auth_mode: key_vault``: the account key is fetched from the
    stand-in with the real SecretClient, then used against Azurite."""
    vault.secrets["lake-key"] = azurite.account_key
    conn = {
        "type": "azure_adls",
        "account": azurite.account_name,
        "container": azure_container,
        "auth_mode": "key_vault",
        "key_vault": vault.url,
        "secret": "lake-key",
        "endpoint_url": azurite.blob_endpoint,
    }
    (tmp_path / "lakestory.yaml").write_text(
        f"project: kvlake\nconnections:\n  lake: {json.dumps(conn)}\n"
        "pipelines:\n  - pipeline: p\n    nodes:\n      - name: n\n"
        "        transform: {steps: [{sql: 'SELECT 1 AS x'}]}\n"
    )
    project = Project.load(tmp_path / "lakestory.yaml", environ={})
    assert vault.secret_requests() == []  # fetched when connecting, not when loading
    store = project.storage("lake")
    store.write_text("notes/hello.txt", "hello from the vault")
    assert store.read_text("notes/hello.txt") == "hello from the vault"
    assert [r.path for r in vault.secret_requests()] == ["/secrets/lake-key/"]
    assert current().redact_text(azurite.account_key) == MASK
