"""Secret references, providers and fetching: parsing, once per reference, in parallel,
bounded by the timeout, values remembered by the redactor, errors without values."""

from __future__ import annotations

import sys
import threading
import time
import types
import uuid
from dataclasses import dataclass, field

import pytest

from lakestory.secrets import keyvault
from lakestory.secrets.databricks import DatabricksProvider
from lakestory.secrets.providers import (
    CallableProvider,
    DefaultProvider,
    EnvProvider,
    SecretFetchError,
    SecretRef,
    call_with_timeout,
    fetch_all,
    parse_reference,
)
from lakestory.secrets.redactor import MASK, Redactor, current, set_current

# ---------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("body", "provider", "reference"),
    [
        ("env:DB_PASSWORD", "env", "DB_PASSWORD"),
        ("keyvault:my-vault/db-password", "keyvault", "my-vault/db-password"),
        ("KeyVault: my-vault/db-password ", "keyvault", "my-vault/db-password"),
        # only the first colon separates the provider: a URL with a port fits
        (
            "keyvault:https://127.0.0.1:8443/db-password",
            "keyvault",
            "https://127.0.0.1:8443/db-password",
        ),
        ("databricks:scope/key", "databricks", "scope/key"),
        ("callable:anything:at/all", "callable", "anything:at/all"),
        ("db_password", "", "db_password"),
    ],
)
def test_references_name_a_provider_and_what_it_knows(
    body: str, provider: str, reference: str
) -> None:
    assert parse_reference(body) == SecretRef(provider, reference)


def test_an_unknown_provider_suggests_the_close_one() -> None:
    with pytest.raises(SecretFetchError) as err:
        parse_reference("keyvalt:v/s")
    assert err.value.reason == "invalid"
    assert "unknown secret provider 'keyvalt'" in err.value.message
    assert err.value.hint is not None
    assert err.value.hint.startswith("did you mean 'keyvault'?")


@pytest.mark.parametrize("body", ["", "keyvault:", "env: "])
def test_empty_references_are_invalid(body: str) -> None:
    with pytest.raises(SecretFetchError, match="names no secret"):
        parse_reference(body)


def test_registered_providers_are_known_by_name() -> None:
    assert parse_reference("vault:kv/db", ["env", "vault"]) == SecretRef("vault", "kv/db")


@pytest.mark.parametrize(
    ("reference", "url", "name", "version"),
    [
        ("my-vault/db-password", "https://my-vault.vault.azure.net", "db-password", None),
        (
            "my-vault/db-password/abc123",
            "https://my-vault.vault.azure.net",
            "db-password",
            "abc123",
        ),
        ("kv1.vault.azure.cn/db", "https://kv1.vault.azure.cn", "db", None),
        ("https://127.0.0.1:8443/db-password", "https://127.0.0.1:8443", "db-password", None),
        ("https://127.0.0.1:8443/db-password/v2", "https://127.0.0.1:8443", "db-password", "v2"),
        (
            "https://my-vault.vault.azure.net/secrets/db-password/0f0f",
            "https://my-vault.vault.azure.net",
            "db-password",
            "0f0f",
        ),
    ],
)
def test_key_vault_references(reference: str, url: str, name: str, version: str | None) -> None:
    assert keyvault.parse(reference) == keyvault.VaultSecret(url, name, version)


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("my-vault", "does not name one secret"),
        ("my-vault/a/b/c", "does not name one secret"),
        ("http://127.0.0.1:8080/db", "is not an https:// URL"),
        ("x/db", "is not a Key Vault name"),
        ("my-vault/db_password", "is not a Key Vault secret name"),
    ],
)
def test_malformed_key_vault_references(reference: str, message: str) -> None:
    with pytest.raises(SecretFetchError, match=message) as err:
        keyvault.parse(reference)
    assert err.value.reason == "invalid"


# ---------------------------------------------------------------------------- providers


def test_env_provider_reads_the_given_environment() -> None:
    env = EnvProvider({"DB_PASSWORD": "pw-from-env"})
    assert env.fetch("DB_PASSWORD") == "pw-from-env"
    with pytest.raises(SecretFetchError, match="environment variable NOPE is not set"):
        env.fetch("NOPE")


def test_callable_provider_none_is_not_found_and_non_text_is_invalid() -> None:
    table: dict[str, object] = {"a": "value-a", "n": 42}
    call = CallableProvider(table.get)  # type: ignore[arg-type]
    assert call.fetch("a") == "value-a"
    with pytest.raises(SecretFetchError) as missing:
        call.fetch("b")
    assert missing.value.reason == "not_found"
    with pytest.raises(SecretFetchError) as wrong:
        call.fetch("n")
    assert wrong.value.reason == "invalid"
    assert "returned a int" in wrong.value.message


def test_a_bare_name_asks_the_callable_first_then_the_environment() -> None:
    env = EnvProvider({"BOTH": "from-env", "ONLY_ENV": "env-only"})
    chain = DefaultProvider(env, CallableProvider({"BOTH": "from-fn"}.get))
    assert chain.fetch("BOTH") == "from-fn"
    assert chain.fetch("ONLY_ENV") == "env-only"
    with pytest.raises(SecretFetchError, match="neither the secrets function"):
        chain.fetch("NOWHERE")
    assert DefaultProvider(env).fetch("BOTH") == "from-env"


@dataclass
class FakeSecrets:
    values: dict[tuple[str, str], str]
    calls: list[tuple[str, str]] = field(default_factory=list)

    def get(self, scope: str, key: str) -> str:
        self.calls.append((scope, key))
        if (scope, key) not in self.values:
            raise ValueError(f"Secret does not exist with scope: {scope} and key: {key}")
        return self.values[(scope, key)]


@dataclass
class FakeDbutils:
    secrets: FakeSecrets


def test_databricks_provider_calls_dbutils_secrets_get() -> None:
    dbutils = FakeDbutils(FakeSecrets({("etl", "db-password"): "from-scope"}))
    provider = DatabricksProvider(dbutils)
    assert provider.fetch("etl/db-password") == "from-scope"
    assert dbutils.secrets.calls == [("etl", "db-password")]
    with pytest.raises(SecretFetchError) as err:
        provider.fetch("etl/nope")
    assert err.value.reason == "not_found"
    with pytest.raises(SecretFetchError, match="is not scope/key"):
        provider.fetch("just-a-key")


def test_databricks_off_databricks_says_dbutils_is_not_here(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DATABRICKS_RUNTIME_VERSION", raising=False)
    with pytest.raises(SecretFetchError) as err:
        DatabricksProvider().fetch("etl/db-password")
    assert err.value.reason == "unavailable"
    assert "dbutils is not available here" in err.value.message
    assert err.value.hint is not None and "dbutils=" in err.value.hint


# ---------------------------------------------------------------------------- fetching


@dataclass
class Slow:
    """A provider that takes ``delay`` seconds per fetch and counts its calls."""

    delay: float = 0.0
    name: str = "slow"
    timeout: float = 5.0
    calls: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fetch(self, reference: str) -> str:
        with self.lock:
            self.calls.append(reference)
        if reference == "hang":
            threading.Event().wait(60)
        time.sleep(self.delay)
        if reference == "missing":
            raise SecretFetchError("not_found", f"no {reference}", "add it")
        if reference == "boom":
            raise RuntimeError("the provider fell over")
        return f"value-of-{reference}-{uuid.uuid4().hex[:6]}"


@pytest.fixture(autouse=True)
def _restore_redactor() -> object:
    before = current()
    set_current(Redactor())
    yield
    set_current(before)


def test_each_reference_is_fetched_once_however_often_it_is_used() -> None:
    slow = Slow()
    refs = [SecretRef("slow", "a"), SecretRef("slow", "b"), SecretRef("slow", "a")]
    out = fetch_all(refs, {"slow": slow})
    assert sorted(slow.calls) == ["a", "b"]
    assert set(out) == {SecretRef("slow", "a"), SecretRef("slow", "b")}


def test_references_are_fetched_in_parallel() -> None:
    slow = Slow(delay=0.5)
    refs = [SecretRef("slow", f"s{i}") for i in range(8)]
    started = time.monotonic()
    out = fetch_all(refs, {"slow": slow})
    elapsed = time.monotonic() - started
    assert all(o.ok for o in out.values())
    assert elapsed < 2.0  # one after the other would take 4 s


def test_a_provider_that_hangs_times_out_within_its_timeout() -> None:
    slow = Slow(timeout=0.5)
    started = time.monotonic()
    out = fetch_all([SecretRef("slow", "hang"), SecretRef("slow", "ok")], {"slow": slow})
    elapsed = time.monotonic() - started
    assert elapsed < 1.5
    hung = out[SecretRef("slow", "hang")]
    assert hung.error is not None and hung.error.reason == "timeout"
    assert "did not answer within 0.5 s" in hung.error.message
    assert "LAKESTORY_SECRETS_TIMEOUT" in (hung.error.hint or "")
    assert out[SecretRef("slow", "ok")].ok  # the others still answer


def test_an_explicit_timeout_overrides_the_providers() -> None:
    started = time.monotonic()
    out = fetch_all([SecretRef("slow", "hang")], {"slow": Slow(timeout=30)}, timeout=0.3)
    assert time.monotonic() - started < 1.5
    assert out[SecretRef("slow", "hang")].error is not None


def test_failures_keep_their_reason_and_unexpected_errors_are_named() -> None:
    out = fetch_all([SecretRef("slow", "missing"), SecretRef("slow", "boom")], {"slow": Slow()})
    missing = out[SecretRef("slow", "missing")].error
    boom = out[SecretRef("slow", "boom")].error
    assert missing is not None and missing.reason == "not_found" and missing.hint == "add it"
    assert boom is not None and boom.reason == "error"
    assert "RuntimeError" in boom.message
    assert "fell over" not in boom.message  # a provider's text may quote what it read


def test_a_provider_nobody_registered_is_an_error() -> None:
    out = fetch_all([SecretRef("vault", "x")], {"slow": Slow()})
    error = out[SecretRef("vault", "x")].error
    assert error is not None and "no secret provider 'vault'" in error.message


def test_fetched_values_are_hidden_by_every_later_redactor() -> None:
    out = fetch_all([SecretRef("slow", "a")], {"slow": Slow()})
    value = out[SecretRef("slow", "a")].value
    assert value is not None
    assert current().redact_text(f"pw={value}!") == f"pw={MASK}!"
    set_current(Redactor())  # a project loaded later
    assert value not in current().redact_text(f"connecting with {value}")


def test_call_with_timeout_leaves_a_hung_call_behind() -> None:
    started = time.monotonic()
    with pytest.raises(SecretFetchError) as err:
        call_with_timeout(lambda: str(threading.Event().wait(60)), 0.3, "the hung thing")
    assert time.monotonic() - started < 1.5
    assert err.value.reason == "timeout"
    assert err.value.message == "the hung thing did not answer within 0.3 s"


def test_key_vault_without_the_azure_extra_names_the_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "azure.keyvault.secrets", None)  # import fails
    keyvault.clear_cache()
    with pytest.raises(SecretFetchError) as err:
        keyvault.get_secret("https://127.0.0.1:9", "db-password", credential=object())
    assert err.value.reason == "unavailable"
    assert err.value.hint == 'run: pip install "lakestory[azure]"'


def test_databricks_finds_a_notebooks_dbutils(monkeypatch: pytest.MonkeyPatch) -> None:
    dbutils = FakeDbutils(FakeSecrets({("etl", "k"): "from-notebook"}))

    class Shell:
        user_ns = {"dbutils": dbutils}

    ipython = types.ModuleType("IPython")
    ipython.get_ipython = lambda: Shell()  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    assert DatabricksProvider().fetch("etl/k") == "from-notebook"


def test_databricks_runtime_without_its_sdk_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABRICKS_RUNTIME_VERSION", "15.4")
    monkeypatch.delitem(sys.modules, "IPython", raising=False)
    monkeypatch.setitem(sys.modules, "databricks.sdk.runtime", None)
    with pytest.raises(SecretFetchError) as err:
        DatabricksProvider().fetch("etl/k")
    assert err.value.reason == "unavailable"
