"""Read a ``.env`` file: ``KEY=value`` lines, ``export`` prefixes, quotes and comments."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from lakestory.core.errors import ConfigError

_ESCAPE = re.compile(r"\\([nrt\"\\$])")
_ESCAPED = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\", "$": "$"}
_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")


def read_dotenv(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"cannot read {path}: not UTF-8 text ({exc.reason} at byte {exc.start})",
            hint="save the .env file as UTF-8",
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    out: dict[str, str] = {}
    for raw in text.splitlines():
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        m = _LINE.match(raw)
        if not m:
            continue
        key, value = m.groups()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            quote, value = value[0], value[1:-1]
            if quote == '"':  # \n, \t, \", \\ and \$ only; anything else stays as written
                value = _ESCAPE.sub(lambda m: _ESCAPED[m.group(1)], value)
        else:
            value = re.split(r"\s+#", value, maxsplit=1)[0]
        out[key] = value
    return out


def environment(project_dir: Path, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The process environment, with ``.env`` values filling only the names not already set."""
    env = dict(os.environ if base is None else base)
    for key, value in read_dotenv(project_dir / ".env").items():
        env.setdefault(key, value)
    return env
