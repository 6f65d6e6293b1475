"""RabbitMQ for the tests: a vhost of this test run on the machine's server, and an app on it.

The run creates its own vhost (`rabbitmqctl add_vhost`) and deletes it at the end, so
nothing touches the shared default vhost. Without a RabbitMQ server the broker's tests
are skipped with the reason in the report; under CI (CI=true) they fail instead, since
CI's machine runs one. SHEEN_TEST_RABBITMQ_URL points at another server (its vhost
must then exist already and be disposable).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from celery import Celery
from kombu import Connection

import celeryconfig
from sheen.broker import DEAD_LETTER_QUEUE, DEFAULT_QUEUE
from sheen.deadletters.rabbitmq import RabbitDeadLetters
from sheen.embedded import free_port
from sheen.settings import parse_settings

HOST = "127.0.0.1:5672"
USER = "guest:guest"


def _ctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["rabbitmqctl", "-q", *args], capture_output=True, text=True, timeout=60, check=False
    )


def unavailable() -> str | None:
    """Why RabbitMQ tests cannot run here, or None."""
    if os.environ.get("SHEEN_TEST_RABBITMQ_URL"):
        return None
    if shutil.which("rabbitmqctl") is None:
        return "RabbitMQ is not installed (no rabbitmqctl): `make tools` installs it"
    try:
        with Connection(f"amqp://{USER}@{HOST}//", connect_timeout=3) as conn:
            conn.connect()
    except Exception as exc:
        return f"no RabbitMQ server on {HOST} ({type(exc).__name__})"
    return None


def require_rabbitmq() -> None:
    reason = unavailable()
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"RabbitMQ tests must run in CI: {reason}")
    pytest.skip(f"RabbitMQ broker tests not run: {reason}")


@dataclass
class RabbitBroker:
    """One vhost of this test run: its URL, its dead letters, its queues."""

    url: str

    def store(self) -> RabbitDeadLetters:
        return RabbitDeadLetters(self.url, timeout=5)

    def clear(self, *queues: str) -> None:
        """Empty the fleet's queues (earlier tests' messages and letters)."""
        with Connection(self.url) as conn:
            for name in (DEFAULT_QUEUE, DEAD_LETTER_QUEUE, *queues):
                channel = conn.channel()
                try:
                    channel.queue_purge(name)
                except conn.channel_errors:
                    pass  # not declared yet
                finally:
                    if channel.is_open:
                        channel.close()

    def depth(self, queue: str) -> int:
        with Connection(self.url) as conn:
            return int(conn.default_channel.queue_declare(queue=queue, passive=True).message_count)


@pytest.fixture(scope="session")
def rabbitmq() -> Iterator[RabbitBroker]:
    """A vhost for this test run, deleted afterwards (skipped, or failed in CI, without RabbitMQ)."""
    require_rabbitmq()
    given = os.environ.get("SHEEN_TEST_RABBITMQ_URL")
    if given:
        yield RabbitBroker(given)
        return
    vhost = f"sheen-test-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    made = _ctl("add_vhost", vhost)
    assert made.returncode == 0, made.stderr
    _ctl("set_permissions", "-p", vhost, USER.split(":", maxsplit=1)[0], ".*", ".*", ".*")
    try:
        yield RabbitBroker(f"amqp://{USER}@{HOST}/{vhost}")
    finally:
        _ctl("delete_vhost", vhost)


def rabbit_env(broker: RabbitBroker, **extra: str) -> dict[str, str]:
    """SHEEN_* overrides that put a worker (or the CLI) on the RabbitMQ vhost."""
    return {"SHEEN_BROKER_URL": broker.url, **extra}


@pytest.fixture
def rabbit_app(services: Any, rabbitmq: RabbitBroker) -> Iterator[Celery]:
    """A publishing app configured exactly as the fleet's on RabbitMQ (quorum queues)."""
    settings = parse_settings(services.env(**rabbit_env(rabbitmq)))
    app = Celery("sheen-rabbit-test", set_as_current=False)
    app.conf.update(celeryconfig.build(settings))
    yield app
    app.close()


SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"  # Debian's; /usr/sbin's wrapper drops to a user


class OwnRabbitMQ:
    """A RabbitMQ node of the test's own, in a temp folder on free ports: it may be restarted.

    Node name, AMQP and distribution ports, Mnesia and log folders, and the Erlang
    cookie (HOME) are all its own, so the machine's node is never touched. Its data
    (quorum queues) survive `restart()`.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.dist_port = free_port()
        self.name = f"sheen-{os.getpid()}-{uuid.uuid4().hex[:6]}@localhost"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"amqp://{USER}@127.0.0.1:{self.port}//"

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RABBITMQ_")}
        env.update(
            HOME=str(self.root),
            RABBITMQ_NODENAME=self.name,
            RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(self.dist_port),
            RABBITMQ_MNESIA_BASE=str(self.root / "mnesia"),
            RABBITMQ_LOG_BASE=str(self.root / "log"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(self.root / "enabled_plugins"),
            RABBITMQ_CONFIG_FILE=str(self.root / "rabbitmq"),
            RABBITMQ_FEATURE_FLAGS_FILE=str(self.root / "feature_flags"),
            RABBITMQ_PID_FILE=str(self.root / "pid"),
        )
        return env

    def start(self, timeout: float = 90.0) -> OwnRabbitMQ:
        for folder in ("mnesia", "log"):
            (self.root / folder).mkdir(parents=True, exist_ok=True)
        (self.root / "enabled_plugins").write_text("[].\n")
        (self.root / "rabbitmq.conf").write_text("loopback_users = none\n")
        with (self.root / "server.out").open("ab") as out:
            self.proc = subprocess.Popen(
                [SERVER], env=self._env(), stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"rabbitmq-server exited: {self.log_tail()}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), 1),
            ):
                return self
            time.sleep(0.2)
        raise RuntimeError(f"rabbitmq-server not up after {timeout} s: {self.log_tail()}")

    def log_tail(self) -> str:
        path = self.root / "server.out"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def stop(self, timeout: float = 60.0) -> None:
        """Stop the node (SIGTERM: a clean shutdown that keeps the quorum queues' data)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # epmd is shared; nothing else stays

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture
def own_rabbitmq(tmp_path: Path) -> Iterator[OwnRabbitMQ]:
    """A RabbitMQ node started by the test (skipped, or failed in CI, without RabbitMQ)."""
    if not Path(SERVER).exists():
        if os.environ.get("CI"):
            pytest.fail(f"RabbitMQ restart test must run in CI: no {SERVER}")
        pytest.skip(f"RabbitMQ restart test not run: no {SERVER} (`make tools` installs it)")
    node = OwnRabbitMQ(tmp_path / "rabbitmq").start()
    try:
        yield node
    finally:
        node.stop()
