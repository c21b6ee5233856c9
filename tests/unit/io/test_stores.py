"""Cloud connections without a server: how their paths become URLs, which store a URL
belongs to, and what a failed call to a store says."""

from __future__ import annotations

import pytest

from lakestory.config.models import AzureConnection, S3Connection
from lakestory.core.errors import ConfigError, DataError, StoreError
from lakestory.io import stores
from lakestory.secrets.redactor import Redactor, set_current


def s3(**more: object) -> S3Connection:
    return S3Connection.model_validate({"type": "s3", "bucket": "lake", **more})


def adls(**more: object) -> AzureConnection:
    settings = {
        "type": "azure_adls",
        "account": "acme",
        "container": "data",
        "auth_mode": "account_key",
        "account_key": "a2V5",
        **more,
    }
    return AzureConnection.model_validate(settings)


def test_s3_paths_become_urls_under_the_prefix() -> None:
    loc = stores.location("raw", s3(path_prefix="/landing/"), "orders/")
    assert loc.uri == "s3://lake/landing/orders/"
    assert (loc.kind, loc.display()) == ("s3", "raw:orders/")
    assert stores.location("raw", s3(), "s3a://lake/other/x.csv").uri == "s3://lake/other/x.csv"


def test_azure_paths_in_every_form_become_one_url() -> None:
    canonical = "abfss://data@acme.dfs.core.windows.net/bronze/t"
    forms = [
        "bronze/t",
        "abfss://data@acme.dfs.core.windows.net/bronze/t",
        "abfs://data@acme.dfs.core.windows.net/bronze/t",
        "wasbs://data@acme.blob.core.windows.net/bronze/t",
        "az://data/bronze/t",
        "https://acme.blob.core.windows.net/data/bronze/t",
    ]
    for form in forms:
        assert stores.location("lake", adls(), form).uri == canonical, form


def test_a_url_outside_the_connection_is_refused() -> None:
    with pytest.raises(ConfigError, match="is not in connection 'raw'"):
        stores.location("raw", s3(), "gs://lake/x")
    with pytest.raises(ConfigError, match="is not in connection 'lake'"):
        stores.location("lake", adls(), "abfss://data@other.dfs.core.windows.net/x")


def test_find_picks_the_longest_root_and_refuses_unknown_places() -> None:
    stores.store_for("raw", s3(bucket="shared-bkt"))
    stores.store_for("landing", s3(bucket="shared-bkt", path_prefix="landing"))
    assert stores.find("s3://shared-bkt/landing/a.csv").connection == "landing"  # type: ignore[union-attr]
    assert stores.find("s3://shared-bkt/other/a.csv").connection == "raw"  # type: ignore[union-attr]
    assert stores.find("/tmp/local/path") is None
    with pytest.raises(DataError, match="no connection reaches s3://never-registered/x"):
        stores.find("s3://never-registered/x")


def test_new_settings_for_a_root_replace_the_old_store() -> None:
    first = stores.store_for("lake", adls(container="swap", account_key="b2xk"))
    same = stores.store_for("lake", adls(container="swap", account_key="b2xk"))
    changed = stores.store_for("lake", adls(container="swap", account_key="bmV3"))
    assert same is first and changed is not first
    assert stores.find(changed.root) is changed
    assert "bmV3" not in repr(changed)  # a store's repr never shows its settings


def test_an_auth_mode_without_its_secret_names_the_key_to_set() -> None:
    store = stores.store_for("lake", adls(container="nokey", account_key=None))
    with pytest.raises(ConfigError, match=r"auth_mode account_key\) needs `account_key`"):
        store.delta_options()
    sas = stores.store_for("lake", adls(container="nosas", auth_mode="sas", account_key=None))
    with pytest.raises(ConfigError, match="needs `sas_token`"):
        sas.delta_options()


def test_delta_options_for_an_emulator_and_for_s3() -> None:
    store = stores.store_for(
        "lake", adls(container="emu", endpoint_url="http://127.0.0.1:10000/devstoreaccount1")
    )
    options = store.delta_options()
    assert options["azure_storage_endpoint"] == "http://127.0.0.1:10000/devstoreaccount1"
    assert (options["allow_http"], options["account_key"]) == ("true", "a2V5")
    s3_options = stores.store_for(
        "raw", s3(bucket="opts", access_key_id="AK", secret_access_key="SK")
    ).delta_options()
    assert s3_options["AWS_ACCESS_KEY_ID"] == "AK"
    assert s3_options["conditional_put"] == "etag"  # safe concurrent commits without DynamoDB


def test_store_errors_say_what_happened_and_never_the_secret() -> None:
    set_current(Redactor(["s3cr3t-value"]))
    store = stores.store_for("lake", adls(container="errs"))
    refused = stores.store_error(
        store, store.root, RuntimeError("403 AuthenticationFailed for key s3cr3t-value")
    )
    assert isinstance(refused, StoreError)
    assert refused.what == (
        "connection 'lake' (azure_adls, auth_mode account_key): the store refused the credentials"
    )
    assert refused.hint == "check the account key (`account_key`) and the account name"
    assert "s3cr3t-value" not in refused.render()
    down = stores.store_error(store, store.root, OSError("Connection refused"))
    assert isinstance(down, StoreError) and "cannot reach acme.blob.core.windows.net" in down.what
    other = stores.store_error(store, store.root, ValueError("odd"))
    assert isinstance(other, DataError) and other.what.endswith("ValueError: odd")


def test_an_emulator_url_keeps_its_account_out_of_the_path() -> None:
    conn = adls(container="emul", endpoint_url="http://127.0.0.1:10000/devstoreaccount1")
    url = "http://127.0.0.1:10000/devstoreaccount1/emul/bronze/t"
    assert stores.location("lake", conn, url).uri == (
        "abfss://emul@acme.dfs.core.windows.net/bronze/t"
    )


def test_without_a_container_a_path_starts_with_one() -> None:
    conn = adls(container=None)
    assert stores.location("lake", conn, "bronze/customers").uri == (
        "abfss://bronze@acme.dfs.core.windows.net/customers"
    )
    url = "abfss://silver@acme.dfs.core.windows.net/orders/"
    assert stores.location("lake", conn, url).uri == url
    with pytest.raises(ConfigError, match="'_lakestory_system' is not a container name"):
        stores.location("lake", conn, "_lakestory_system")


def test_errors_are_judged_by_status_and_code_not_by_digits_in_the_path() -> None:
    store = stores.store_for("lake", adls(container="judge"))
    uri = store.root + "/daily/dt=20240403/x.csv"  # 403 in a path is no refusal
    down = stores.store_error(store, uri, OSError(f"could not connect to {uri}"))
    assert isinstance(down, StoreError) and down.what.endswith(
        "cannot reach acme.blob.core.windows.net"
    )
    assert down.transient  # retried under the project's `retry:`

    class HttpResponseError(Exception):
        status_code = 403
        error_code = "AuthorizationPermissionMismatch"

    refused = stores.store_error(store, uri, HttpResponseError("This request is not authorized"))
    assert isinstance(refused, StoreError) and not refused.transient
    assert "refused the credentials" in refused.what

    class Busy(Exception):
        status_code = 503
        error_code = "ServerBusy"

    busy = stores.store_error(store, uri, Busy("try later"))
    assert isinstance(busy, StoreError) and busy.transient
    gone = stores.store_error(store, uri, FileNotFoundError(uri))
    assert isinstance(gone, DataError) and "does not exist (any more)" in gone.what


def test_paths_outside_the_bucket_or_with_a_query_are_refused() -> None:
    with pytest.raises(ConfigError, match="is not in connection 'raw'"):
        stores.location("raw", s3(bucket="mine"), "s3://someone-elses/x.parquet")
    with pytest.raises(ConfigError, match="carries a query or a fragment"):
        stores.location("lake", adls(container="q"), "https://acme.blob.core.windows.net/q/x?sv=1")
    spaced = stores.location("lake", adls(container="q"), "az://q/my%20file.csv")
    assert spaced.uri.endswith("/my file.csv")


def test_two_connections_may_not_reach_one_place_with_different_credentials() -> None:
    stores.new_generation()
    stores.store_for("reader", adls(container="shared", auth_mode="sas", sas_token="c2Fz"))
    with pytest.raises(ConfigError, match="connections 'reader' and 'writer' reach the same"):
        stores.store_for("writer", adls(container="shared", path_prefix="sub"))
    stores.store_for("also", adls(container="shared", auth_mode="sas", sas_token="c2Fz"))


def test_a_key_that_climbs_out_of_its_folder_is_not_downloaded() -> None:
    store = stores.store_for("raw", s3(bucket="climb"))
    with pytest.raises(DataError, match=r"an empty, '\.' or '\.\.' folder"):
        stores.localize([store.root + "/landing/../../../../etc/x.csv"])
