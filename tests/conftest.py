"""Fixtures every test folder uses: a clean process state, projects on disk, the CLI."""

from __future__ import annotations

import importlib
import os
import sys
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lakestory.cli.app import app


@pytest.fixture(autouse=True)
def _clean_process(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    """Run every test in its own folder, without the developer's LAKESTORY_* settings, and
    forget the user modules (``transforms.py`` ...) that projects put on ``sys.path``."""
    for key in list(os.environ):
        if key.startswith("LAKESTORY_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    base, path = str(tmp_path_factory.getbasetemp()), list(sys.path)
    _forget_modules_under(base)
    importlib.invalidate_caches()
    yield
    _forget_modules_under(base)
    sys.path[:] = path


def _forget_modules_under(folder: str) -> None:
    for name, module in list(sys.modules.items()):
        if (getattr(module, "__file__", None) or "").startswith(folder):
            del sys.modules[name]


def write_files(root: Path, files: dict[str, str]) -> Path:
    """Write ``{relative path: text}`` under ``root`` (text is dedented); returns ``root``."""
    for rel, text in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


@pytest.fixture(scope="session")
def files() -> Callable[[Path, dict[str, str]], Path]:
    """``files(root, {path: text})``: :func:`write_files`, for module-scoped fixtures."""
    return write_files


@pytest.fixture
def project(tmp_path: Path) -> Callable[..., Path]:
    """``project(yaml, {"data/a.csv": "id\\n1\\n"})``: a folder with ``lakestory.yaml`` and
    the given files (all dedented), under ``tmp_path/proj`` unless ``root`` says otherwise."""

    def make(yaml: str, files: dict[str, str] | None = None, root: str = "proj") -> Path:
        return write_files(tmp_path / root, {"lakestory.yaml": yaml, **(files or {})})

    return make


@dataclass
class Outcome:
    exit_code: int
    stdout: str
    stderr: str


@pytest.fixture(scope="session")
def cli() -> Callable[..., Outcome]:
    """Invoke ``lakestory ARGS...`` in-process; exceptions other than exits propagate."""
    runner = CliRunner()

    def invoke(*args: str | os.PathLike[str], env: dict[str, str] | None = None) -> Outcome:
        result = runner.invoke(app, [str(a) for a in args], env=env, catch_exceptions=False)
        return Outcome(result.exit_code, result.stdout, result.stderr)

    return invoke
