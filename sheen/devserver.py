"""`make run`: the whole fleet in the foreground, on embedded services when no URL is set.

Children run in their own sessions (Ctrl-C reaches only this supervisor, which
shuts them down in order) and die with it if it is killed (PR_SET_PDEATHSIG).
`.sheen/services.json` tells `sheen-ops` in another terminal where the embedded
services listen; it is removed on a clean stop.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from sheen.embedded import (
    EmbeddedPostgres,
    EmbeddedRedis,
    embedded_object_store,
    free_port,
    port_open,
)
from sheen.settings import SERVICES_FILE

PREFERRED_PORTS = {"redis": 6390, "postgres": 5440}
STOP_GRACE_SECONDS = 20
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _port(name: str) -> int:
    preferred = PREFERRED_PORTS[name]
    return preferred if not port_open(preferred) else free_port()


def _pump(prefix: str, stream: IO[str]) -> None:
    for line in stream:
        sys.stdout.write(f"{prefix} | {line}")
        sys.stdout.flush()


@dataclass
class Supervisor:
    state_dir: Path
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    children: list[tuple[str, subprocess.Popen[str]]] = field(default_factory=list)
    cleanups: list[Callable[[], None]] = field(default_factory=list)

    def say(self, message: str) -> None:
        sys.stdout.write(f"{'fleet':>7} | {message}\n")
        sys.stdout.flush()

    def start_services(self) -> None:
        """Start embedded Redis/PostgreSQL for every URL the environment does not set."""
        embedded: dict[str, str] = {}
        if not (self.env.get("SHEEN_REDIS_URL") or self.env.get("SHEEN_BROKER_URL")):
            redis = EmbeddedRedis(self.state_dir / "redis", _port("redis"), persist=True).start()
            self.cleanups.append(redis.stop)
            embedded["broker_url"] = f"{redis.url}/0"
            embedded["redis_url"] = f"{redis.url}/1"
            self.say(f"embedded redis on {redis.url} (data in {self.state_dir / 'redis'})")
        if not self.env.get("SHEEN_DATABASE_URL"):
            pg = EmbeddedPostgres(self.state_dir / "postgres", _port("postgres")).start()
            self.cleanups.append(pg.stop)
            embedded["database_url"] = pg.url
            self.say(f"embedded postgres on {pg.url} (data in {self.state_dir / 'postgres'})")
        if not self.env.get("SHEEN_S3_ENDPOINT_URL"):
            objects = embedded_object_store(self.state_dir)
            embedded["s3_endpoint_url"] = objects.as_uri()
            self.say(f"embedded object store in {objects} (artifact buckets as folders)")
        for key, url in embedded.items():
            self.env[f"SHEEN_{key.upper()}"] = url
        if embedded:
            services = self.state_dir / SERVICES_FILE
            services.write_text(json.dumps(embedded, indent=2))
            self.cleanups.append(lambda: services.unlink(missing_ok=True))

    def spawn(self, name: str, argv: list[str]) -> None:
        proc = subprocess.Popen(
            argv,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
            preexec_fn=_die_with_parent,  # noqa: PLW1509
        )
        assert proc.stdout is not None
        threading.Thread(target=_pump, args=(f"{name:>7}", proc.stdout), daemon=True).start()
        self.children.append((name, proc))

    def stop(self) -> None:
        for _, proc in reversed(self.children):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for name, proc in reversed(self.children):
            try:
                proc.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                self.say(f"{name} did not stop in {STOP_GRACE_SECONDS} s; killing it")
                proc.kill()
                proc.wait()
        for cleanup in reversed(self.cleanups):
            cleanup()
        self.say("stopped")

    def wait(self) -> int:
        """Block until a signal or until a child exits; return the exit status to use."""
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        while not stop.wait(0.5):
            for name, proc in self.children:
                if proc.poll() is not None:
                    self.say(f"{name} exited with status {proc.returncode}; stopping the fleet")
                    return 1
        return 0


@contextlib.contextmanager
def supervised(state_dir: Path) -> Iterator[Supervisor]:
    state_dir.mkdir(parents=True, exist_ok=True)
    sup = Supervisor(state_dir)
    try:
        yield sup
    finally:
        sup.stop()


def celery(*args: str) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "workers.app", *args]
