"""Fixtures every test folder uses: a clean process state, projects on disk, the CLI."""

from __future__ import annotations

import importlib
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from lakestory.cli.app import app
from support.servers import (
    AzuriteEndpoint,
    AzuriteServer,
    MotoServer,
    PostgresEndpoint,
    PostgresServer,
    S3Endpoint,
    require,
)


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


@dataclass
class Receiver:
    """A local HTTP receiver process (tests/support/receiver.py); ``down`` ones refuse."""

    url: str
    log: Path
    pid: int | None

    def requests(self, wait_for: int = 0, timeout: float = 10.0) -> list[dict[str, Any]]:
        """The requests received so far, waiting up to ``timeout`` for ``wait_for`` of them."""
        deadline = time.monotonic() + timeout
        while True:
            lines = self.log.read_text("utf-8").splitlines() if self.log.exists() else []
            got = [json.loads(line) for line in lines if line.strip()]
            if len(got) >= wait_for or time.monotonic() > deadline:
                return got
            time.sleep(0.05)

    def bodies(self, wait_for: int = 0, timeout: float = 10.0) -> list[Any]:
        """The JSON bodies received (see :meth:`requests`)."""
        return [json.loads(r["body"]) for r in self.requests(wait_for, timeout) if r["body"]]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def receiver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Receiver]]:
    """``receiver("ok" | "fail" | "hang" | "down")``: an HTTP receiver on 127.0.0.1 in its
    own process, stopped by its pid when the test ends. ``down`` is a port nobody listens on."""
    started: list[subprocess.Popen[str]] = []

    def start(mode: str = "ok") -> Receiver:
        log = tmp_path_factory.mktemp("receiver") / "requests.jsonl"
        if mode == "down":
            return Receiver(f"http://127.0.0.1:{_free_port()}", log, None)
        proc = subprocess.Popen(
            [
                sys.executable,
                str(Path(__file__).parent / "support" / "receiver.py"),
                "--log",
                str(log),
                "--mode",
                mode,
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        started.append(proc)
        assert proc.stdout is not None
        port = int(proc.stdout.readline().strip())
        return Receiver(f"http://127.0.0.1:{port}", log, proc.pid)

    yield start
    for proc in started:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def spark_session() -> Iterator[Any]:
    """One local Spark session (``local[2]``) for the whole test process, started the way
    the spark engine starts one; engines created while it runs work in sessions of it.
    Skipped when pyspark or Java is missing, except under CI=true, where that fails."""
    import shutil
    import warnings

    if os.environ.get("CI") != "true":
        pytest.importorskip("pyspark")
        if shutil.which("java") is None:
            pytest.skip("Java is not installed (the spark engine needs Java 17)")
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from lakestory.engines.spark.session import close_session, open_session

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # pyspark on pandas 3
        sessions = open_session({"spark.master": "local[2]", "spark.driver.memory": "2g"})
    yield sessions.shared
    close_session(sessions)


# -- real servers on 127.0.0.1 (tests/support/servers.py) --------------------------------


def _unique(prefix: str) -> str:
    """A lowercase name unique to this test, valid for buckets, containers and databases."""
    return f"{prefix}{uuid.uuid4().hex[:16]}"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresEndpoint]:
    """A PostgreSQL server of this test process (one per xdist worker) with a
    password-authenticated superuser and a database. Skipped when PostgreSQL is missing,
    except under CI=true, where that fails."""
    require(PostgresServer.missing())
    server = PostgresServer()
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture
def postgres_db(postgres_server: PostgresEndpoint) -> Iterator[PostgresEndpoint]:
    """A fresh database for this test on :func:`postgres_server`, dropped after it; the
    endpoint's ``database`` and ``uri`` name it."""
    name = postgres_server.create_database(_unique("test_"))
    yield replace(postgres_server, database=name)
    postgres_server.drop_database(name)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Endpoint]:
    """A moto S3 server of this test process (one per xdist worker). Skipped when moto is
    missing, except under CI=true, where that fails."""
    require(MotoServer.missing())
    server = MotoServer()
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(s3_server: S3Endpoint) -> str:
    """The name of a fresh, empty bucket on :func:`s3_server`."""
    return s3_server.create_bucket(_unique("bucket-"))


@pytest.fixture(scope="session")
def azurite() -> Iterator[AzuriteEndpoint]:
    """An Azurite blob service of this test process (one per xdist worker). Skipped when
    Azurite or azure-storage-blob is missing, except under CI=true, where that fails."""
    require(AzuriteServer.missing())
    server = AzuriteServer()
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture
def azure_container(azurite: AzuriteEndpoint) -> str:
    """The name of a fresh, empty container on :func:`azurite`."""
    return azurite.create_container(_unique("container-"))
