"""Real servers for the tests, each started on a free port of 127.0.0.1 in its own process
group and stopped by that process id (see the ``s3_server``, ``azurite`` and
``postgres_server`` fixtures in tests/conftest.py).

    server = PostgresServer()
    facts = server.start()  # waits until it answers, or raises ServerError with its log
    ...
    server.stop()           # the leader, then its whole group; waits; removes its folder

Each server also dies with the test process that started it (the parent-death signal), and
an atexit hook stops whatever is still running, so no run leaves one behind.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import datetime as dt
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

REPO = Path(__file__).resolve().parents[2]
AZURITE_BIN = REPO / ".tools" / "azurite" / "node_modules" / ".bin" / "azurite-blob"
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (  # Azurite's published development key, the same on every machine
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


def require(missing: str | None) -> None:
    """Skip the test when a server's component is missing (``missing`` says what to
    install), except under CI=true, where that fails."""
    if missing is None:
        return
    import pytest

    if os.environ.get("CI") == "true":
        pytest.fail(f"{missing} (CI installs every component: run scripts/test.sh)")
    pytest.skip(missing)


class ServerError(RuntimeError):
    """A test server did not start; the message carries the end of its log."""


def free_port() -> int:
    """A TCP port nobody listens on right now (another process may still take it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


_RUNNING: set[ManagedProcess] = set()


@atexit.register
def _stop_all() -> None:
    for server in list(_RUNNING):
        server.stop()


class ManagedProcess:
    """A server process: started in a new session (its own process group), logged to a file
    in its own temporary folder, stopped by pid and then by group."""

    name: ClassVar[str] = "server"
    stop_signal: ClassVar[signal.Signals] = signal.SIGTERM
    start_timeout: ClassVar[float] = 60.0

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.workdir: Path | None = None
        self.port = 0

    @property
    def log(self) -> Path:
        assert self.workdir is not None
        return self.workdir / "server.log"

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log.read_text("utf-8", errors="replace")
        except (OSError, AssertionError):
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:]) or "(empty log)"

    def _spawn(self, command: list[str], cwd: Path | None = None) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=cwd or self.workdir,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        _RUNNING.add(self)

    def _wait_ready(self, ready: Callable[[], bool]) -> None:
        """Poll ``ready()`` until it is true; raise with the log if the process exits or the
        timeout passes."""
        assert self.proc is not None
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self.proc.poll() is not None:
                raise self._error(f"exited with code {self.proc.returncode} while starting")
            if ready():
                return
            if time.monotonic() > deadline:
                raise self._error(f"did not answer within {self.start_timeout:.0f}s")
            time.sleep(0.05)

    def _error(self, what: str) -> ServerError:
        tail = self.log_tail()
        return ServerError(
            f"{self.name} on 127.0.0.1:{self.port} {what}; the end of its log ({self.log}):\n{tail}"
        )

    def stop(self, timeout: float = 15.0) -> None:
        """Ask the leader to stop, then kill what is left of its group; wait; clean up."""
        proc, self.proc = self.proc, None
        _RUNNING.discard(self)
        if proc is not None:
            children = _descendants(proc.pid)  # PostgreSQL's start sessions of their own
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, self.stop_signal)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and not _exited_unreaped(proc.pid):
                time.sleep(0.05)
            # The leader is a zombie or still running, so its group id is not reused yet.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            for pid, started in children:
                _kill_if_same(pid, started)
            proc.wait(timeout=timeout)
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def _start_with_retries(self, attempt: Callable[[], None], attempts: int = 3) -> None:
        """Run ``attempt()`` on fresh ports until one starts: another process may take the
        free port between choosing it and the server binding it."""
        for tries_left in range(attempts - 1, -1, -1):
            self.workdir = Path(tempfile.mkdtemp(prefix=f"lakestory-{self.name}-"))
            self.port = free_port()
            try:
                attempt()
                return
            except ServerError:
                self.stop()
                if tries_left == 0:
                    raise


def _exited_unreaped(pid: int) -> bool:
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _descendants(root: int) -> list[tuple[int, str]]:
    """``root``'s children, grandchildren ... as (pid, start time) (Linux /proc; else none)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            parents[int(stat.parent.name)] = int(_stat_fields(int(stat.parent.name))[1])
    found: list[int] = []
    frontier = [root]
    while frontier:
        frontier = [pid for pid, parent in parents.items() if parent in frontier]
        found += frontier
    return [(pid, _start_time(pid)) for pid in found]


def _stat_fields(pid: int) -> list[str]:
    """/proc/PID/stat after the command name: state, ppid, pgrp, ..., starttime at [19]."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _start_time(pid: int) -> str:
    try:
        return _stat_fields(pid)[19]
    except (OSError, IndexError):
        return ""


def _kill_if_same(pid: int, started: str) -> None:
    """SIGKILL ``pid`` unless it is gone or its pid now belongs to a newer process."""
    if started and _start_time(pid) == started:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def _answers_http(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):
            return True
    except urllib.error.HTTPError:
        return True  # any HTTP answer means the server is up
    except OSError:
        return False


# -- moto S3 -----------------------------------------------------------------------------


@dataclass(frozen=True)
class S3Endpoint:
    """A moto S3 server; any bucket name works, the credentials are moto's fake ones."""

    endpoint_url: str
    region: str = "us-east-1"
    access_key: str = "testing"
    secret_key: str = "testing"

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
        )

    def create_bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)
        return name

    def env(self) -> dict[str, str]:
        """The AWS_* variables that point boto3/s3fs clients at this server."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ENDPOINT_URL": self.endpoint_url,
        }


class MotoServer(ManagedProcess):
    name = "moto-s3"

    @staticmethod
    def missing() -> str | None:
        try:
            import boto3  # noqa: F401
            import moto.server  # noqa: F401
        except ImportError as exc:
            return f'moto[server] or boto3 is not installed ({exc}): pip install -e ".[dev]"'
        return None

    def start(self) -> S3Endpoint:
        self._start_with_retries(self._attempt)
        return S3Endpoint(endpoint_url=f"http://127.0.0.1:{self.port}")

    def _attempt(self) -> None:
        command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]
        self._spawn(command)
        self._wait_ready(lambda: _answers_http(f"http://127.0.0.1:{self.port}/moto-api/"))


# -- Azurite (blob) ----------------------------------------------------------------------


@dataclass(frozen=True)
class AzuriteEndpoint:
    """An Azurite blob service with the well-known development account."""

    blob_endpoint: str
    account_name: str = AZURITE_ACCOUNT
    account_key: str = AZURITE_KEY

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={self.account_name};"
            f"AccountKey={self.account_key};BlobEndpoint={self.blob_endpoint};"
        )

    def service(self) -> Any:
        from azure.storage.blob import BlobServiceClient

        return BlobServiceClient.from_connection_string(self.connection_string)

    def create_container(self, name: str) -> str:
        self.service().create_container(name)
        return name

    def container_sas(self, container: str, permission: str = "racwdl", hours: int = 1) -> str:
        """A SAS token (no leading ``?``) for one container."""
        from azure.storage.blob import ContainerSasPermissions, generate_container_sas

        return str(
            generate_container_sas(
                self.account_name,
                container,
                account_key=self.account_key,
                permission=ContainerSasPermissions.from_string(permission),
                expiry=dt.datetime.now(dt.UTC) + dt.timedelta(hours=hours),
            )
        )

    def account_sas(self, permission: str = "racwdl", hours: int = 1) -> str:
        """A SAS token (no leading ``?``) for the whole account's blob service."""
        from azure.storage.blob import AccountSasPermissions, ResourceTypes, generate_account_sas

        return str(
            generate_account_sas(
                self.account_name,
                self.account_key,
                resource_types=ResourceTypes(service=True, container=True, object=True),
                permission=AccountSasPermissions.from_string(permission),
                expiry=dt.datetime.now(dt.UTC) + dt.timedelta(hours=hours),
            )
        )


class AzuriteServer(ManagedProcess):
    name = "azurite"

    @staticmethod
    def binary() -> str | None:
        return str(AZURITE_BIN) if AZURITE_BIN.exists() else None

    @classmethod
    def missing(cls) -> str | None:
        if cls.binary() is None:
            return (
                "Azurite is not installed: npm install --prefix .tools/azurite azurite@3.37.0 "
                "(scripts/test.sh does it)"
            )
        try:
            import azure.storage.blob  # noqa: F401
        except ImportError as exc:
            return f'azure-storage-blob is not installed ({exc}): pip install -e ".[dev]"'
        return None

    def start(self) -> AzuriteEndpoint:
        self._start_with_retries(self._attempt)
        return AzuriteEndpoint(blob_endpoint=f"http://127.0.0.1:{self.port}/{AZURITE_ACCOUNT}")

    def _attempt(self) -> None:
        binary = self.binary()
        assert binary is not None and self.workdir is not None
        (self.workdir / "data").mkdir()
        command = [binary, "--blobHost", "127.0.0.1", "--blobPort", str(self.port)]
        command += ["--location", str(self.workdir / "data"), "--silent", "--loose"]
        command += ["--skipApiVersionCheck", "--disableTelemetry"]
        self._spawn(command)
        url = f"http://127.0.0.1:{self.port}/{AZURITE_ACCOUNT}?comp=list"
        self._wait_ready(lambda: _answers_http(url))


# -- PostgreSQL --------------------------------------------------------------------------


@dataclass(frozen=True)
class PostgresEndpoint:
    """A PostgreSQL server with one password-authenticated superuser and one database."""

    host: str
    port: int
    user: str
    password: str
    database: str
    bindir: str

    @property
    def uri(self) -> str:
        return self.uri_for(self.database)

    def uri_for(self, database: str) -> str:
        """The libpq URI of another database on this server."""
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        self._client("createdb", name)
        return name

    def drop_database(self, name: str) -> None:
        """Drop ``name``, ending the sessions still connected to it."""
        self._client("dropdb", "--if-exists", "--force", name)

    def _client(self, tool: str, *args: str) -> None:
        env = {**os.environ, "PGPASSWORD": self.password, "PGCONNECT_TIMEOUT": "10"}
        command = [str(Path(self.bindir) / tool), "-h", self.host, "-p", str(self.port)]
        command += ["-U", self.user, "--maintenance-db", "postgres", *args]
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise ServerError(f"{tool} {' '.join(args)} failed: {done.stderr.strip()}")


def postgres_bindir() -> Path | None:
    """The newest ``/usr/lib/postgresql/*/bin`` with initdb and postgres, else PATH's."""
    found = [p for p in Path("/usr/lib/postgresql").glob("*/bin") if (p / "initdb").exists()]
    found.sort(key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)
    if found:
        return found[-1]
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class PostgresServer(ManagedProcess):
    name = "postgres"
    stop_signal = signal.SIGINT  # "fast" shutdown: ends sessions, no waiting for clients
    user = "lakestory"
    database = "lakestory"

    def __init__(self) -> None:
        super().__init__()
        self.password = secrets.token_hex(12)
        self.bindir = postgres_bindir()

    @classmethod
    def missing(cls) -> str | None:
        if postgres_bindir() is None:
            return (
                "PostgreSQL is not installed: apt-get install postgresql "
                "(scripts/test.sh does it when run as root)"
            )
        if os.geteuid() == 0 and _unprivileged_user() is None:
            return "running as root, and neither the 'postgres' nor 'nobody' user exists"
        return None

    def start(self) -> PostgresEndpoint:
        self._start_with_retries(self._attempt)
        facts = PostgresEndpoint(
            "127.0.0.1", self.port, self.user, self.password, self.database, str(self.bindir)
        )
        facts.create_database(self.database)
        return facts

    def _attempt(self) -> None:
        assert self.workdir is not None and self.bindir is not None
        work, bindir = self.workdir, self.bindir
        (work / "sock").mkdir()
        (work / "pwfile").write_text(self.password + "\n", encoding="utf-8")
        as_user = self._as_unprivileged(work)
        initdb = [str(bindir / "initdb"), "-D", str(work / "data"), "-U", self.user]
        initdb += ["--pwfile", str(work / "pwfile"), "--auth", "scram-sha-256"]
        initdb += ["-E", "UTF8", "--no-locale", "--no-sync"]
        done = subprocess.run(
            as_user + initdb, cwd=work, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise ServerError(f"initdb failed ({done.returncode}):\n{done.stdout}{done.stderr}")
        (work / "pwfile").unlink()
        server = [str(bindir / "postgres"), "-D", str(work / "data"), "-k", str(work / "sock")]
        server += ["-h", "127.0.0.1", "-p", str(self.port)]
        for setting in ("fsync=off", "full_page_writes=off", "synchronous_commit=off"):
            server += ["-c", setting]
        self._spawn(as_user + server)
        isready = [str(bindir / "pg_isready"), "-q", "-t", "1", "-h", "127.0.0.1"]
        isready += ["-p", str(self.port)]
        self._wait_ready(lambda: subprocess.run(isready, check=False).returncode == 0)

    def _as_unprivileged(self, work: Path) -> list[str]:
        """initdb and postgres refuse to run as root: as root, hand ``work`` to an
        unprivileged user and run them as that user (setpriv execs, so the pid we hold is
        the server's own; the parent-death signal is set again after the switch)."""
        if os.geteuid() != 0:
            return []
        account = _unprivileged_user()
        assert account is not None
        for path in [work, *work.rglob("*")]:
            os.chown(path, account.pw_uid, account.pw_gid)
        return [
            "setpriv",
            f"--reuid={account.pw_uid}",
            f"--regid={account.pw_gid}",
            "--init-groups",
            "--pdeathsig=KILL",
            "--",
        ]


def _unprivileged_user() -> pwd.struct_passwd | None:
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    return None
