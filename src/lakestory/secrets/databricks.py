"""Databricks secret scopes: ``${SECRET:databricks:scope/key}`` through ``dbutils``.

Where the ``dbutils`` comes from, first found wins:

1. the one passed in: ``Project.load(path, dbutils=dbutils)`` (any object with
   ``secrets.get(scope, key)``: a notebook's ``dbutils``, ``WorkspaceClient().dbutils``);
2. a notebook's: ``dbutils`` in IPython's user namespace, when running in IPython;
3. on a Databricks cluster (``DATABRICKS_RUNTIME_VERSION`` set), ``databricks.sdk.runtime``.

Off Databricks with none of these, the error says so and what to use instead.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Any

from lakestory.secrets.providers import DEFAULT_TIMEOUT, SecretFetchError

_NOT_HERE = (
    "pass one in Python (Project.load(path, dbutils=dbutils), e.g. "
    "databricks.sdk.WorkspaceClient().dbutils), or, off Databricks, use "
    "${SECRET:env:NAME} or ${SECRET:keyvault:vault/name} for this secret"
)


def find_dbutils() -> Any:
    """A notebook's or the cluster's ``dbutils``, or None when there is none here."""
    ipython = sys.modules.get("IPython")  # only when already running in IPython
    if ipython is not None:
        shell = ipython.get_ipython()
        found = getattr(shell, "user_ns", {}).get("dbutils") if shell is not None else None
        if found is not None:
            return found
    if os.environ.get("DATABRICKS_RUNTIME_VERSION"):
        try:
            from databricks.sdk.runtime import dbutils  # type: ignore[import-not-found,unused-ignore]
        except ImportError:
            return None
        return dbutils
    return None


@dataclass
class DatabricksProvider:
    """``scope/key`` → ``dbutils.secrets.get(scope=scope, key=key)``."""

    dbutils: Any = None
    name: str = "databricks"
    timeout: float = DEFAULT_TIMEOUT

    def fetch(self, reference: str) -> str:
        scope, _, key = reference.strip().partition("/")
        if not scope or not key or "/" in key:
            raise SecretFetchError(
                "invalid",
                f"Databricks secret reference '{reference}' is not scope/key",
                "write ${SECRET:databricks:my-scope/my-key}",
            )
        dbutils = self.dbutils if self.dbutils is not None else find_dbutils()
        if dbutils is None:
            raise SecretFetchError(
                "unavailable",
                f"Databricks secret {scope}/{key}: dbutils is not available here "
                "(not in a Databricks notebook or job)",
                _NOT_HERE,
            )
        try:
            value = dbutils.secrets.get(scope=scope, key=key)
        except Exception as exc:  # noqa: BLE001 - dbutils raises py4j/SDK errors of many kinds
            text = str(exc)
            missing = "does not exist" in text or "not found" in text.lower()
            raise SecretFetchError(
                "not_found" if missing else "error",
                f"Databricks secret {scope}/{key}: dbutils.secrets.get failed "
                f"({type(exc).__name__})",
                "check the scope and key: `databricks secrets list-secrets SCOPE`; the "
                "identity running the job needs READ on the scope",
            ) from None
        if not isinstance(value, str):
            raise SecretFetchError(
                "invalid", f"Databricks secret {scope}/{key}: dbutils returned no text"
            )
        return value
