"""A RabbitMQ node of our own in a folder, for tests and benchmarks that restart or measure it.

Uses the system's RabbitMQ (Debian's `rabbitmq-server` package) with its own node name,
ports, Mnesia and log folders and Erlang cookie; the machine's node is never touched.
Start-up takes about 5-10 s.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

from sheen.embedded import free_port

SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"  # Debian's; /usr/sbin's wrapper drops to a user


class EmbeddedRabbitMQ:
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
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

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

    def start(self, timeout: float = 90.0) -> EmbeddedRabbitMQ:
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

    @property
    def pid(self) -> int:
        """The Erlang VM's pid (the broker's CPU), read from its pid file."""
        return int((self.root / "pid").read_text().split()[0])
