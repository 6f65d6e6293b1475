"""RabbitMQ for the tests: a vhost of this test run on the machine's server, and an app on it.

The run creates its own vhost (`rabbitmqctl add_vhost`) and deletes it at the end, so
nothing touches the shared default vhost. Without a RabbitMQ server the broker's tests
are skipped with the reason in the report; under CI (CI=true) they fail instead, since
CI's machine runs one. SHEEN_TEST_RABBITMQ_URL points at another server (its vhost
must then exist already and be disposable).
"""

from __future__ import annotations

import os
import shutil
import subprocess
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
from sheen.embedded_rabbitmq import SERVER, EmbeddedRabbitMQ
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


@pytest.fixture
def own_rabbitmq(tmp_path: Path) -> Iterator[EmbeddedRabbitMQ]:
    """A RabbitMQ node started by the test (skipped, or failed in CI, without RabbitMQ)."""
    if not Path(SERVER).exists():
        if os.environ.get("CI"):
            pytest.fail(f"RabbitMQ restart test must run in CI: no {SERVER}")
        pytest.skip(f"RabbitMQ restart test not run: no {SERVER} (`make tools` installs it)")
    node = EmbeddedRabbitMQ(tmp_path / "rabbitmq").start()
    try:
        yield node
    finally:
        node.stop()
