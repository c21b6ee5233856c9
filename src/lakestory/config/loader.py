"""Project file → resolved dict → validated :class:`ProjectConfig`.

Order: parse YAML (keeping positions) → overlay the selected environment → fetch every
``${SECRET:...}`` once, in parallel (:mod:`lakestory.secrets.resolve`) → resolve ``${...}``
(``vars`` first, so vars may use the environment) → validate with pydantic. Loading a
project makes its secrets the process-wide redactor's (see
:mod:`lakestory.secrets.redactor`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from lakestory.config import errors as config_errors
from lakestory.config.models import NodeConfig, ProjectConfig
from lakestory.config.substitute import Substitution
from lakestory.config.yamlpos import SourceMap, format_path, load_yaml, load_yaml_text
from lakestory.core.errors import ConfigError, ConfigErrors, Where
from lakestory.core.text import suggestion
from lakestory.secrets import keyvault
from lakestory.secrets.dotenv import environment
from lakestory.secrets.providers import SecretFetchError, SecretRef
from lakestory.secrets.redactor import Redactor, secret_env_values, set_current
from lakestory.secrets.resolve import SecretSettings, SecretStatus, SecretUse, resolve_uses


@dataclass
class LoadedConfig:
    """A validated project with where it came from."""

    config: ProjectConfig
    root_dir: Path
    source: SourceMap
    env_name: str | None = None
    secret_values: set[str] = field(default_factory=set)
    # every ${SECRET:...} and whether it resolved (no values); with SecretSettings(strict=
    # False), also the connections' `auth_mode: key_vault` secrets
    secret_statuses: list[SecretStatus] = field(default_factory=list)


def node_where(
    smap: SourceMap,
    node: NodeConfig,
    *sub: str | int,
    pipeline: str | None = None,
    step: str | None = None,
) -> Where:
    """Where the key ``sub`` under ``node`` is: in the project file, or, for a node built in
    Python (no file to point into), by the node and the key path within it."""
    if node._key_path:
        return smap.where((*node._key_path, *sub), pipeline=pipeline, node=node.name, step=step)
    return Where(pipeline=pipeline, node=node.name, step=step, key=format_path(sub) or None)


def load_project_file(
    path: str | Path,
    env_name: str | None = None,
    environ: Mapping[str, str] | None = None,
    secrets: SecretSettings | None = None,
) -> LoadedConfig:
    path = Path(path)
    data, smap = load_yaml(path)
    return resolve(data, smap, path.resolve().parent, env_name, environ, secrets)


def load_project_text(
    text: str,
    root_dir: Path,
    env_name: str | None = None,
    environ: Mapping[str, str] | None = None,
    file: str = "<string>",
    secrets: SecretSettings | None = None,
) -> LoadedConfig:
    data, smap = load_yaml_text(text, file)
    return resolve(data, smap, root_dir, env_name, environ, secrets)


def resolve(
    data: Any,
    smap: SourceMap,
    root_dir: Path,
    env_name: str | None,
    environ: Mapping[str, str] | None,
    secrets: SecretSettings | None = None,
) -> LoadedConfig:
    if not isinstance(data, dict):
        raise ConfigError(
            "a project file must be a mapping of keys (project:, pipelines:, ...)",
            where=smap.where(()),
        )
    data = _overlay(data, smap, env_name)
    env = environment(root_dir, environ)
    settings = secrets or SecretSettings()
    sub = Substitution(env=env, vars={}, smap=smap)
    statuses = _fetch_secrets(sub, data, settings, env)
    variables: Any = data.get("vars") or {}
    if isinstance(variables, dict):  # in order, so that a var may use the ones above it
        done: dict[str, Any] = {}
        sub.vars = done
        sub.pending = set(variables)
        for name, value in variables.items():
            sub.pending.discard(name)
            done[name] = sub.apply(value, ("vars", name))
        sub.pending = set()
        variables = done
    # `environments` is not resolved: the selected one is already merged in (and resolved
    # there), and the others may use variables that only exist where they are used.
    resolved = {
        k: variables if k == "vars" else v if k == "environments" else sub.apply(v, (k,))
        for k, v in data.items()
    }
    sub.errors.raise_if_any()
    # From here on, every exit hides the values read from the environment (a validation
    # error may quote one); once validated, the connections' secret fields too.
    set_current(Redactor(secret_env_values(sub.resolved_env_values)))
    try:
        config = ProjectConfig.model_validate(resolved)
    except ValidationError as exc:
        found = config_errors.convert(exc, resolved, smap, ProjectConfig)
        raise (found[0] if len(found) == 1 else ConfigErrors(found)) from None
    for i, pipeline in enumerate(config.pipelines):
        pipeline._key_path = ("pipelines", i)
        for j, node in enumerate(pipeline.nodes):
            node._key_path = ("pipelines", i, "nodes", j)
    loaded = LoadedConfig(config, root_dir, smap, env_name, sub.resolved_env_values, statuses)
    if not settings.strict:
        uses = _connection_secrets(config, smap)
        loaded.secret_statuses += resolve_uses(uses, settings.build(env))[1]
    set_current(Redactor.for_loaded(loaded))
    return loaded


def _fetch_secrets(
    sub: Substitution, data: dict[str, Any], settings: SecretSettings, env: Mapping[str, str]
) -> list[SecretStatus]:
    """Fetch every ``${SECRET:...}`` (but those of environments not selected) once, in
    parallel, for ``sub`` to substitute; in strict mode, each one that did not resolve is a
    located error, reported with the load's other errors."""
    keyvault.clear_cache()  # once per load: a rotated secret is picked up by the next one
    providers = settings.build(env)
    sub.providers = tuple(name for name in providers if name)
    uses = sub.find_secrets({k: v for k, v in data.items() if k != "environments"})
    if not uses:
        return []
    sub.secrets, statuses = resolve_uses(uses, providers)
    if settings.strict:
        for status in statuses:
            if not status.ok:
                sub.errors.add(status.error())
    return statuses


def _connection_secrets(config: ProjectConfig, smap: SourceMap) -> list[SecretUse]:
    """The Key Vault secrets of connections with ``auth_mode: key_vault`` (fetched by the
    storage layer when it connects; listed here for ``lakestory secrets check``)."""
    uses = []
    for name, conn in config.connections.items():
        if getattr(conn, "auth_mode", None) != "key_vault":
            continue
        vault, secret = getattr(conn, "key_vault", None), getattr(conn, "secret", None)
        where = smap.where(("connections", name, "secret" if vault else "key_vault"))
        expr = f"connections.{name}: key_vault {vault or '?'}, secret {secret or '?'}"
        if not vault or not secret:
            missing = "key_vault" if not vault else "secret"
            error = SecretFetchError(
                "invalid",
                f"connection '{name}' has auth_mode key_vault but no `{missing}:`",
                "give the vault (`key_vault: NAME` or an https URL) and `secret: NAME`",
            )
            uses.append(SecretUse(expr, where, error=error))
            continue
        ref = SecretRef("keyvault", f"{vault.rstrip('/')}/{secret}")
        uses.append(SecretUse(expr, where, ref))
    return uses


def _overlay(data: dict[str, Any], smap: SourceMap, env_name: str | None) -> dict[str, Any]:
    if not env_name:
        return data
    envs = data.get("environments") or {}
    if env_name not in envs:
        raise ConfigError(
            f"environment '{env_name}' is not defined",
            where=smap.where(("environments",)),
            hint=suggestion(env_name, envs)
            or (
                f"defined environments: {', '.join(envs)}"
                if envs
                else "add an `environments: {" + env_name + ": {...}}` block"
            ),
        )
    overlay = envs[env_name] or {}
    if not isinstance(overlay, dict):
        raise ConfigError(
            f"environment '{env_name}' must be a mapping of keys to override",
            where=smap.where(("environments", env_name)),
        )
    merged = _deep_merge(data, overlay, smap, (), ("environments", env_name))
    return merged


def _deep_merge(
    base: dict[str, Any],
    over: dict[str, Any],
    smap: SourceMap,
    base_path: tuple[Any, ...],
    over_path: tuple[Any, ...],
) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        bp, op = (*base_path, key), (*over_path, key)
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value, smap, bp, op)
        else:
            out[key] = value
            smap.move(op, bp)
    return out
