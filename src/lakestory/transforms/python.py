"""Python function steps: resolving ``module.func`` and presenting the user's traceback."""

from __future__ import annotations

import importlib
import inspect
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lakestory.core.errors import ConfigError, StepError, Where
from lakestory.core.text import suggestion

_PACKAGE_DIR = str(Path(__file__).resolve().parents[1])


def resolve_function(dotted: str, where: Where) -> Callable[..., Any]:
    module_name, _, attr = dotted.rpartition(".")
    if not module_name:
        raise ConfigError(f"function '{dotted}' must be written as module.function",
                          where=where, hint="e.g. `function: my_project.transforms.enrich`")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise ConfigError(
            f"cannot import module '{module_name}' for function '{dotted}': {exc}",
            where=where,
            hint="modules are found beside the project file and on PYTHONPATH",
        ) from None
    fn = getattr(module, attr, None)
    if not callable(fn):
        names = [n for n, v in vars(module).items() if callable(v) and not n.startswith("_")]
        raise ConfigError(f"module '{module_name}' has no function '{attr}'", where=where,
                          hint=suggestion(attr, names))
    return fn  # type: ignore[no-any-return]


def check_params(fn: Callable[..., Any], params: dict[str, Any], where: Where) -> None:
    try:
        inspect.signature(fn).bind(None, **params)
    except TypeError as exc:
        raise ConfigError(f"params do not fit {fn.__module__}.{fn.__name__}: {exc}",
                          where=where) from None
    except ValueError:
        return  # builtins without signatures


def user_error(exc: BaseException, dotted: str) -> StepError:
    """A StepError whose detail is the traceback of the user's own code only."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if not f.filename.startswith(_PACKAGE_DIR) and "/duckdb/" not in f.filename]
    lines = ["Traceback (most recent call last):", *traceback.format_list(frames)]
    lines += traceback.format_exception_only(type(exc), exc)
    return StepError(f"function {dotted} raised {type(exc).__name__}: {exc}",
                     detail="".join(line if line.endswith("\n") else line + "\n"
                                    for line in lines))
