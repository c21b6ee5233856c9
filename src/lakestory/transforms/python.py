"""Python function steps: resolving ``module.func`` and presenting the user's traceback."""

from __future__ import annotations

import ast
import contextlib
import importlib
import importlib.util
import inspect
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lakestory.core.errors import ConfigError, StepError, Where
from lakestory.core.text import suggestion

_PACKAGE_DIR = str(Path(__file__).resolve().parents[1])
_HIDDEN = (_PACKAGE_DIR, str(Path(importlib.__file__).parent), "<frozen ")


def _split(dotted: str, where: Where) -> tuple[str, str]:
    module_name, _, attr = dotted.rpartition(".")
    if not module_name:
        raise ConfigError(
            f"function '{dotted}' must be written as module.function",
            where=where,
            hint="e.g. `function: my_project.transforms.enrich`",
        )
    return module_name, attr


def prefer_project(module_name: str, root: Path | None) -> None:
    """Make ``module_name`` resolve to the project's own module when it has one.

    The project folder goes first on ``sys.path``, and a module of the same name that an
    earlier project in this process imported from elsewhere is forgotten, so two projects
    with a ``transforms.py`` each never run each other's code.
    """
    if root is None:
        return
    root_str = str(root)
    if sys.path[:1] != [root_str]:
        with contextlib.suppress(ValueError):
            sys.path.remove(root_str)
        sys.path.insert(0, root_str)
    top = module_name.split(".")[0]
    if not ((root / top).is_dir() or (root / f"{top}.py").is_file()):
        return
    loaded = sys.modules.get(top)
    origin = getattr(loaded, "__file__", None)
    if loaded is not None and origin and not Path(origin).resolve().is_relative_to(root):
        for name in [m for m in sys.modules if m == top or m.startswith(top + ".")]:
            del sys.modules[name]
        importlib.invalidate_caches()


def resolve_function(dotted: str, where: Where, root: Path | None = None) -> Callable[..., Any]:
    module_name, attr = _split(dotted, where)
    prefer_project(module_name, root)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing and not (module_name == missing or module_name.startswith(missing + ".")):
            raise _import_failed(exc, module_name, where) from None  # found; its imports failed
        raise ConfigError(
            f"cannot import module '{module_name}' for function '{dotted}': {exc}",
            where=where,
            hint="modules are found beside the project file and on PYTHONPATH",
        ) from None
    except Exception as exc:  # noqa: BLE001 - the user's module raised while it was imported
        raise _import_failed(exc, module_name, where) from None
    fn = getattr(module, attr, None)
    if not callable(fn):
        names = [n for n, v in vars(module).items() if callable(v) and not n.startswith("_")]
        raise ConfigError(
            f"module '{module_name}' has no function '{attr}'",
            where=where,
            hint=suggestion(attr, names),
        )
    return fn


def _import_failed(exc: BaseException, module_name: str, where: Where) -> StepError:
    error = user_error(exc, "")
    hint = None
    if isinstance(exc, ModuleNotFoundError):
        hint = f"it imports '{exc.name}', which is not installed in this Python environment"
    return StepError(
        f"importing module '{module_name}' failed: {type(exc).__name__}: {exc}",
        where=where,
        detail=error.detail,
        hint=hint,
    )


def locate_function(
    dotted: str, params: dict[str, Any], where: Where, root: Path | None = None
) -> None:
    """Check a ``module.func`` step without importing the module (no side effects).

    The module's source is parsed: the function must be defined at top level and accept
    the given params. Modules without Python source are imported instead.
    """
    module_name, attr = _split(dotted, where)
    prefer_project(module_name, root)
    try:
        spec = importlib.util.find_spec(module_name)
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        raise ConfigError(
            f"cannot find module '{module_name}' for function '{dotted}'",
            where=where,
            hint="modules are found beside the project file and on PYTHONPATH",
        )
    origin = spec.origin or ""
    if not origin.endswith(".py"):
        check_params(resolve_function(dotted, where), params, where)
        return
    with open(origin, encoding="utf-8") as fh:
        source = fh.read()
    try:
        tree = ast.parse(source, origin)
    except SyntaxError as exc:
        fields = {k: v for k, v in where.to_dict().items() if k in ("pipeline", "node", "step")}
        text = (exc.text or "").rstrip("\n")
        caret = " " * ((exc.offset or 1) - 1) + "^"
        raise ConfigError(
            f"module '{module_name}' is not valid Python: {exc.msg}",
            where=Where(file=origin, line=exc.lineno, column=exc.offset, **fields),
            detail=f"{text}\n{caret}" if text else None,
        ) from None
    defs = {
        n.name: n
        for n in tree.body
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    }
    assigned = {
        t.id
        for n in tree.body
        if isinstance(n, ast.Assign)
        for t in n.targets
        if isinstance(t, ast.Name)
    }
    imported = {
        (a.asname or a.name)
        for n in tree.body
        if isinstance(n, ast.ImportFrom | ast.Import)
        for a in n.names
    }
    if attr not in defs and attr not in assigned | imported:
        raise ConfigError(
            f"module '{module_name}' ({origin}) has no function '{attr}'",
            where=where,
            hint=suggestion(attr, defs),
        )
    fn = defs.get(attr)
    if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef) and fn.args.kwarg is None:
        accepted = {a.arg for a in (*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs)}
        for name in params:
            if name not in accepted:
                raise ConfigError(
                    f"{dotted} has no parameter '{name}'",
                    where=where,
                    hint=suggestion(name, accepted)
                    or f"its parameters: {', '.join(sorted(accepted))}",
                )


def check_params(fn: Callable[..., Any], params: dict[str, Any], where: Where) -> None:
    try:
        inspect.signature(fn).bind(None, **params)
    except TypeError as exc:
        raise ConfigError(
            f"params do not fit {fn.__module__}.{fn.__name__}: {exc}", where=where
        ) from None
    except ValueError:
        return  # builtins without signatures


def user_error(exc: BaseException, dotted: str) -> StepError:
    """A StepError whose detail is the traceback of the user's own code only."""
    frames = [
        f
        for f in traceback.extract_tb(exc.__traceback__)
        if not f.filename.startswith(_HIDDEN) and "/duckdb/" not in f.filename
    ]
    lines = ["Traceback (most recent call last):", *traceback.format_list(frames)]
    lines += traceback.format_exception_only(type(exc), exc)
    return StepError(
        f"function {dotted} raised {type(exc).__name__}: {exc}",
        detail="".join(line if line.endswith("\n") else line + "\n" for line in lines),
    )
