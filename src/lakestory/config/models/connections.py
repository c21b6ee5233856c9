"""Connections: where data lives. Discriminated on ``type``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from lakestory.config.models.base import Strict


class LocalConnection(Strict):
    """Files on local (or mounted) disk; ``base_path`` is relative to the project file."""

    type: Literal["local"]
    base_path: str = "."


class AzureConnection(Strict):
    """Azure Data Lake Storage Gen2 or Blob Storage."""

    type: Literal["azure_adls", "azure_blob"]
    account: str | None = None
    account_name: str | None = None
    container: str | None = None
    path_prefix: str | None = None
    auth_mode: Literal[
        "account_key",
        "sas",
        "connection_string",
        "service_principal",
        "managed_identity",
        "default",
        "key_vault",
    ] = "default"
    key_vault: str | None = None
    secret: str | None = None
    account_key: str | None = None
    sas_token: str | None = None
    connection_string: str | None = None
    tenant_id: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    endpoint_url: str | None = None

    @model_validator(mode="after")
    def _needs_account(self) -> AzureConnection:
        if not (self.account or self.account_name or self.connection_string):
            raise ValueError("an Azure connection needs `account` (or `account_name`)")
        return self


class S3Connection(Strict):
    type: Literal["s3"]
    bucket: str
    region: str | None = None
    endpoint_url: str | None = None
    path_prefix: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None
    session_token: str | None = None
    profile: str | None = None


class PostgresConnection(Strict):
    """A PostgreSQL database (read and written through ADBC); ``connect_timeout`` is in
    seconds."""

    type: Literal["postgres"]
    host: str = "localhost"
    port: int = 5432
    database: str | None = None
    user: str | None = Field(default=None, alias="username")
    password: str | None = None
    db_schema: str | None = Field(default=None, alias="schema")
    sslmode: str | None = None
    connect_timeout: int = Field(default=10, ge=1)
    options: dict[str, Any] = Field(default_factory=dict)


class SqlConnection(Strict):
    """Any database reachable by a SQLAlchemy URL."""

    type: Literal["sql"]
    url: str
    connect_timeout: int = Field(default=10, ge=1)


Connection = Annotated[
    LocalConnection | AzureConnection | S3Connection | PostgresConnection | SqlConnection,
    Field(discriminator="type"),
]

CONNECTION_TYPES = ("local", "azure_adls", "azure_blob", "s3", "postgres", "sql")
