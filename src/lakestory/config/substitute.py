"""``${...}`` substitution on parsed YAML values (never on raw text, so comments are inert).

Supported forms::

    ${VAR}  ${env:VAR}  ${ENV:VAR}      the environment (a .env beside the project fills gaps)
    ${VAR:-default}                     the default when VAR is unset or empty
    ${vars.name}                        a value from the project's ``vars:`` block
    ${SECRET:provider:reference}        a secret (docs/secrets.md): env, keyvault, databricks,
    ${SECRET:name}                      callable; fetched before substitution, see loader
    $${...}                             a literal ``${...}``

A value that is exactly one ``${vars.x}`` keeps the variable's type (a number stays a
number). Every value taken from the environment is reported back so the redactor can hide it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from lakestory.config.yamlpos import Path_, SourceMap
from lakestory.core.errors import ConfigError, ErrorList, Where
from lakestory.core.text import did_you_mean, suggestion
from lakestory.secrets.providers import BUILTIN_PROVIDERS, SecretFetchError, parse_reference
from lakestory.secrets.resolve import SecretUse

_TOKEN = re.compile(r"\$\$\{|\$\{([^}]*)\}")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass
class Substitution:
    env: Mapping[str, str]
    vars: Mapping[str, Any]
    smap: SourceMap
    resolved_env_values: set[str] = field(default_factory=set)
    pending: set[str] = field(default_factory=set)  # vars not resolved yet (defined below)
    errors: ErrorList = field(default_factory=ErrorList)
    # ${SECRET:...} values, by the reference as written (fetched beforehand: find_secrets)
    secrets: Mapping[str, str] = field(default_factory=dict)
    providers: tuple[str, ...] = BUILTIN_PROVIDERS

    def find_secrets(self, value: Any, path: Path_ = ()) -> list[SecretUse]:
        """Every ``${SECRET:...}`` under ``value``, in file order, parsed and located."""
        if isinstance(value, dict):
            return [u for k, v in value.items() for u in self.find_secrets(v, (*path, k))]
        if isinstance(value, list):
            return [u for i, v in enumerate(value) for u in self.find_secrets(v, (*path, i))]
        if not (isinstance(value, str) and "${" in value):
            return []
        found = []
        for m in _TOKEN.finditer(value):
            expr = (m.group(1) or "").strip()
            prefix, sep, body = expr.partition(":")
            if m.group(1) is None or not sep or prefix.strip().lower() != "secret":
                continue
            where = self._where(path, value, m.start())
            try:
                found.append(SecretUse(expr, where, parse_reference(body, self.providers)))
            except SecretFetchError as exc:
                found.append(SecretUse(expr, where, error=exc))
        return found

    def apply(self, value: Any, path: Path_ = ()) -> Any:
        if isinstance(value, dict):
            return {k: self.apply(v, (*path, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [self.apply(v, (*path, i)) for i, v in enumerate(value)]
        if isinstance(value, str) and "${" in value:
            return self._string(value, path)
        return value

    def _string(self, text: str, path: Path_) -> Any:
        whole = _TOKEN.fullmatch(text)
        if whole and whole.group(1) is not None:
            return self._lookup(whole.group(1).strip(), self._where(path, text, 0))

        def repl(m: re.Match[str]) -> str:
            if m.group(1) is None:
                return "${"
            value = self._lookup(m.group(1).strip(), self._where(path, text, m.start()))
            return "" if value is None else str(value)

        return _TOKEN.sub(repl, text)

    def _where(self, path: Path_, text: str, offset: int) -> Where:
        """The reference at ``offset`` of the value at ``path``: its own line and column
        when the file keeps the value's text as is, else the key's."""
        line = text.count("\n", 0, offset) + 1
        column = offset - (text.rfind("\n", 0, offset) + 1) + 1
        where = self.smap.where(path)
        pos = self.smap.text_position(path, line, column)
        return replace(where, line=pos[0], column=pos[1]) if pos else where

    def _lookup(self, expr: str, where: Where) -> Any:
        if expr.startswith("vars."):
            return self._var(expr[5:], where)
        name, default = expr, None
        if ":-" in expr:
            name, default = expr.split(":-", 1)
        prefix, _, rest = name.partition(":")
        if prefix.strip().lower() == "secret":
            return self.secrets.get(expr, "")  # missing: reported by the loader already
        if rest:
            if prefix.lower() != "env":
                self.errors.add(self._unknown_prefix(expr, prefix, where))
                return None
            name = rest
        if not _NAME.match(name):
            self.errors.add(
                ConfigError(
                    f"'${{{expr}}}' is not a valid variable reference",
                    where=where,
                    hint="use ${NAME}, ${env:NAME}, ${NAME:-default} "
                    "or ${vars.name}; write $${ for a literal ${",
                )
            )
            return None
        value = self.env.get(name)
        if value is None or (value == "" and default is not None):
            if default is not None:
                return default
            self.errors.add(
                ConfigError(
                    f"environment variable {name} is not set",
                    where=where,
                    hint=f"export {name}=... or add it to the .env file beside the project "
                    f"file, or give a default: ${{{name}:-value}}",
                )
            )
            return None
        if value:
            self.resolved_env_values.add(value)
        return value

    def _unknown_prefix(self, expr: str, prefix: str, where: Where) -> ConfigError:
        close = did_you_mean(prefix.strip().lower(), ("env", "secret"))
        close = close and close.replace("secret", "SECRET")
        head = f"did you mean ${{{close}:{_rest_of(expr)}}}? " if close else ""
        return ConfigError(
            f"'${{{expr}}}' is not a valid reference: no source '{prefix}'",
            where=where,
            hint=f"{head}a secret is ${{SECRET:provider:reference}}, e.g. "
            f"${{SECRET:{prefix.lower() if prefix.lower() in self.providers else 'keyvault'}:"
            f"{_rest_of(expr)}}}; an environment variable is ${{NAME}} or ${{env:NAME}} "
            "(see docs/secrets.md)",
        )

    def _var(self, dotted: str, where: Where) -> Any:
        current: Any = self.vars
        for part in dotted.split("."):
            if not isinstance(current, Mapping) or part not in current:
                options = current.keys() if isinstance(current, Mapping) else []
                hint = suggestion(part, options) or "define it under `vars:` in the project"
                if current is self.vars and part in self.pending:
                    hint = f"vars.{part} is defined further down; a var may only use those above it"
                self.errors.add(
                    ConfigError(f"variable vars.{dotted} is not defined", where=where, hint=hint)
                )
                return None
            current = current[part]
        return current


def _rest_of(expr: str) -> str:
    """What follows the first ``:`` of ``expr`` (for hints)."""
    return expr.partition(":")[2].strip() or "..."
