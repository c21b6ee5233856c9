"""The one redactor: secret text becomes ``[REDACTED]`` before it leaves the process.

A :class:`Redactor` hides two kinds of text:

* **known values**: the values a project resolved from ``${...}`` (but locations and short
  plain words: see :func:`secret_env_values`) and every connection field whose name says it
  holds a secret (``password``, ``account_key``, ``sas_token`` ...). Values shorter than
  :data:`MIN_LENGTH` characters are ignored: hiding ``"1"`` or ``"eu"`` would mask ordinary
  text everywhere, and so short a value is no secret worth the name.
* **secret-looking text**, whoever wrote it: AWS access key ids, ``aws_secret_access_key=``
  assignments, ``Bearer`` tokens (16 characters or more) and ``Authorization`` headers,
  Azure ``AccountKey=``, ``SharedAccessSignature=`` and SAS ``sig=``, ``user:password@`` in
  URLs, ``password=`` and ``pwd=`` in connection strings, private key blocks, GitHub and
  Slack tokens, JWTs.

The exits that have no project at hand (the log formatter, the CLI's printer) use the
process-wide :func:`current` redactor, which loading a project replaces (:func:`set_current`).
See docs/redaction.md.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

MASK = "[REDACTED]"
MIN_LENGTH = 4

_VALUE = r"[^\s\"';,&]+"  # a value in key=value text: up to a space, quote or separator
_SECRET_KEYS = (
    r"aws_secret_access_key|aws_session_token|secret_access_key|session_token|client_secret"
    r"|secret_key|api_key|apikey|access_token|refresh_token|auth_token|password|passwd|pwd"
)

# (pattern, replacement): the replacement keeps the key so a reader still sees what was hidden.
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(
            r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|$)",
            re.DOTALL,
        ),
        MASK,
    ),
    (re.compile(r"(?i)(\bauthorization[\"']?\s*[:=]\s*[\"']?)[^\"'\r\n]+"), rf"\1{MASK}"),
    # a bearer token is long; "Bearer authentication" is prose
    (re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9\-._~+/]{16,}=*"), rf"\1{MASK}"),
    # key=value, or key: "value" (quoted, so a key path in a message, "db.password: not
    # set", is not taken for an assignment)
    (
        re.compile(
            rf"(?i)((?<![a-z0-9])(?:{_SECRET_KEYS})"
            rf"(?:\s*=\s*[\"']?|[\"']?\s*:\s*[\"'])){_VALUE}"
        ),
        rf"\1{MASK}",
    ),
    (
        re.compile(r"(?i)(\b(?:AccountKey|SharedAccessSignature|SharedAccessKey)=)[^;\s\"']+"),
        rf"\1{MASK}",
    ),
    (re.compile(r"(?i)((?:^|(?<=[?&\s\"']))sig=)[^&\s\"';]+"), rf"\1{MASK}"),
    (re.compile(r"(?i)(\b[a-z][a-z0-9+.\-]*://[^\s:/@\"']*:)[^\s@/\"']+(@)"), rf"\1{MASK}\2"),
    (re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA)[A-Z0-9]{16}\b"), MASK),
    (re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b"), MASK),
    (re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"), MASK),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), MASK),
)

# Connection fields whose value is a secret: any name with one of these words ...
_SECRET_WORDS = frozenset(
    {"password", "passwd", "pwd", "secret", "token", "sas", "key", "credential", "credentials"}
)
# ... except these, which name or point to a secret rather than hold one.
_NOT_SECRET_SUFFIXES = ("_id", "_name", "_vault", "_mode", "_path", "_file")
_URL_PASSWORD = re.compile(r"://[^\s:/@]*:([^\s@/]+)@")
# A local path or a URL without a password: a location, shown in plans and messages.
_LOCATION = re.compile(r"^(?:[A-Za-z]:[\\/]|[/~.]|[a-z][a-z0-9+.\-]*://(?![^/\s@]*:[^/\s@]*@))\S*$")
# A short plain word or number: a setting (prod, lake, false, 1000), not a secret.
_SETTING = re.compile(r"[A-Za-z]{1,7}|[0-9]{1,7}(?:\.[0-9]+)?")


def secret_env_values(values: Iterable[str]) -> set[str]:
    """Which values resolved from ``${...}`` to hide: all but locations (``/data/lake``,
    ``s3://bucket/raw``), which plans and messages must be able to show, and short plain
    words or numbers (``lake`` would otherwise hide part of every ``lakestory``). A URL's
    password is still hidden by the patterns."""
    return {v for v in values if not (_LOCATION.match(v) or _SETTING.fullmatch(v))}


def is_secret_field(name: str) -> bool:
    """Whether a config field named ``name`` holds a secret (``account_key`` and Spark's
    ``fs.azure.account.key.<account>...``: yes; ``access_key_id``, ``key_vault``: no)."""
    name = name.lower()
    if name.endswith(_NOT_SECRET_SUFFIXES):
        return False
    return "connection_string" in name or bool(_SECRET_WORDS & set(re.split(r"[_.\-]", name)))


def secret_fields(data: Any) -> set[str]:
    """The string values under secret-named keys in ``data`` (nested dicts and lists too),
    and the passwords of URLs anywhere in it."""
    found: set[str] = set()
    if isinstance(data, Mapping):
        for key, value in data.items():
            if isinstance(value, str) and is_secret_field(str(key)):
                found.add(value)
            else:
                found |= secret_fields(value)
    elif isinstance(data, list | tuple):
        for item in data:
            found |= secret_fields(item)
    elif isinstance(data, str):
        found.update(_URL_PASSWORD.findall(data))
    return found


class _Loaded(Protocol):
    """What :meth:`Redactor.for_loaded` reads from a ``LoadedConfig`` (the config layer
    sits above this one, so it is described here rather than imported)."""

    config: Any
    secret_values: set[str]


class Redactor:
    """Replaces known secret values and secret-looking text with ``[REDACTED]``."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._values: frozenset[str] = frozenset()
        self._known: re.Pattern[str] | None = None
        self.add(values)

    @classmethod
    def for_loaded(cls, loaded: _Loaded) -> Redactor:
        """A redactor for a loaded project: the values resolved from ``${...}`` and its
        connections' secret fields."""
        connections = getattr(loaded.config, "connections", None) or {}
        values = secret_env_values(loaded.secret_values)
        for conn in connections.values():
            dump = conn.model_dump() if hasattr(conn, "model_dump") else conn
            if isinstance(dump, Mapping) and dump.get("auth_mode") == "key_vault":
                # `secret:` names the vault's secret (the value is fetched, then remembered)
                dump = {k: v for k, v in dump.items() if k != "secret"}
            values |= secret_fields(dump)
        values |= secret_fields(getattr(loaded.config, "spark_config", None) or {})
        return cls(values)

    @property
    def values(self) -> frozenset[str]:
        return self._values

    def add(self, values: Iterable[str]) -> None:
        """Hide these values too (those shorter than :data:`MIN_LENGTH` are ignored)."""
        new = {v for v in values if isinstance(v, str) and len(v.strip()) >= MIN_LENGTH}
        with self._lock:
            if new <= self._values:
                return
            self._values = self._values | new
            # longest first, so a secret that contains another is hidden whole
            ordered = sorted(self._values, key=len, reverse=True)
            self._known = re.compile("|".join(re.escape(v) for v in ordered))

    def redact_text(self, text: str) -> str:
        known = self._known
        if known is not None:
            text = known.sub(MASK, text)
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return text

    def redact(self, obj: Any) -> Any:
        """A copy of ``obj`` with every string in it (in dicts, lists and tuples) redacted;
        dict keys and other values are kept as they are."""
        if isinstance(obj, str):
            return self.redact_text(obj)
        if isinstance(obj, Mapping):
            return {k: self.redact(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [self.redact(v) for v in obj]
        if isinstance(obj, tuple):
            return tuple(self.redact(v) for v in obj)
        return obj


_current = Redactor()
_current_lock = threading.Lock()
# Values fetched from secret providers (Key Vault, Databricks, a callable ...): hidden by
# every redactor made current from then on, in full, whatever they look like.
_remembered: set[str] = set()


def current() -> Redactor:
    """The process-wide redactor (patterns only until a project is loaded)."""
    with _current_lock:
        return _current


def set_current(redactor: Redactor) -> None:
    """Make ``redactor`` the process-wide one; it also hides every :func:`remember`-ed value."""
    global _current
    with _current_lock:
        redactor.add(_remembered)
        _current = redactor


def remember(values: Iterable[str]) -> None:
    """Hide these secret values from now on, in the current redactor and every later one
    (a secret fetched once stays hidden for the life of the process)."""
    new = {v for v in values if isinstance(v, str)}
    with _current_lock:
        _remembered.update(new)
        redactor = _current
    redactor.add(new)


def redact_text(text: str) -> str:
    """``current().redact_text(text)``."""
    return current().redact_text(text)
