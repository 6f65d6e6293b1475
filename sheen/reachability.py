"""Unreachable services as one actionable line: which service, its URL without the
password, and the setting to change. Used at the CLI boundary and at worker start.

`explain(exc, settings)` walks the exception's cause chain for the library errors of
PostgreSQL (psycopg / SQLAlchemy), Redis (redis-py) and the broker (kombu / amqp) and
returns a `ServiceUnreachable`; anything else is not ours to explain (None).
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

from sheen.errors import SheenError
from sheen.settings import Settings, env_name

EXIT_STATUS = 1  # the operation failed; documented in README (sheen-ops exit status)
_HOST_PORT = re.compile(r"connecting to ([\w.\-\[\]:]+?):(\d+)")


class ServiceUnreachable(SheenError):
    """A service the command needs did not answer: named, with its URL and setting."""

    def __init__(self, service: str, url: str, setting: str, detail: str) -> None:
        self.service, self.url, self.setting, self.detail = service, url, setting, detail
        super().__init__(self.line())

    def line(self) -> str:
        return (
            f"{self.service} unreachable at {self.url} ({self.detail}); "
            f"check that it runs or change {self.setting}"
        )


def redact(url: str) -> str:
    """The URL without its password (user names stay: they help find the right account)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    detail = text[0] if text else type(exc).__name__
    return detail[:160]


def _endpoint(url: str) -> tuple[str, int | None]:
    parts = urlsplit(url)
    return (parts.hostname or "", parts.port)


def _redis_setting(exc: BaseException, settings: Settings) -> tuple[str, str]:
    """Which Redis URL the error is about: match host:port from redis-py's message."""
    found = _HOST_PORT.search(str(exc))
    broker = settings.broker_url.startswith(("redis", "unix"))
    candidates = [("redis_url", settings.redis_url)]
    if broker:
        candidates.insert(0, ("broker_url", settings.broker_url))
    if found:
        host, port = found.group(1).strip("[]"), int(found.group(2))
        for field, url in candidates:
            if _endpoint(url) == (host, port):
                return env_name(field), redact(url)
    return env_name("redis_url"), redact(settings.redis_url)


def _classify(err: BaseException, settings: Settings) -> tuple[str, str, str] | None:
    """(service, redacted URL, setting) if `err` is a connection failure we can name."""
    import kombu.exceptions
    import psycopg
    import redis
    import sqlalchemy.exc

    postgres = ("PostgreSQL", redact(settings.database_url), env_name("database_url"))
    broker = ("Broker", redact(settings.broker_url), env_name("broker_url"))
    if isinstance(
        err,
        sqlalchemy.exc.OperationalError | sqlalchemy.exc.InterfaceError | psycopg.OperationalError,
    ):
        return postgres
    if isinstance(err, redis.ConnectionError | redis.TimeoutError):
        setting, url = _redis_setting(err, settings)
        service = "Broker" if setting == env_name("broker_url") else "Redis"
        return (service, url, setting)
    if isinstance(
        err,
        kombu.exceptions.OperationalError
        | ConnectionRefusedError
        | socket.timeout
        | socket.gaierror,
    ):
        return broker
    return None


def explain(exc: BaseException, settings: Settings) -> ServiceUnreachable | None:
    """A ServiceUnreachable for a connection failure anywhere in the chain, else None."""
    for err in _chain(exc):
        if isinstance(err, ServiceUnreachable):
            return err
        found = _classify(err, settings)
        if found is not None:
            inner = getattr(err, "orig", None)
            return ServiceUnreachable(*found, _first_line(inner or err))
    return None


_DEFAULT_PORTS = {
    "redis": 6379, "rediss": 6379, "amqp": 5672, "amqps": 5671, "pyamqp": 5672,
    "postgresql": 5432, "postgresql+psycopg": 5432, "postgres": 5432,
}  # fmt: skip


def _probe(url: str, timeout: float) -> None:
    """Open (and close) a TCP or unix-socket connection to the URL's server; raise OSError."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(parts.path)
        return
    if not parts.hostname:  # libpq "host=" in the query string: left to the driver
        return
    port = parts.port or _DEFAULT_PORTS.get(parts.scheme, 0)
    with socket.create_connection((parts.hostname, port), timeout=timeout):
        pass


def check_services(settings: Settings, timeout: float = 3.0) -> None:
    """Can PostgreSQL, Redis and the broker be reached at all (a TCP connect each)?

    Raise ServiceUnreachable for the first that cannot: at worker start this is one
    line instead of a retry loop or a traceback at the first task. Only reachability is
    checked; a wrong database name or password surfaces as the task's own error.
    """
    probes = (
        ("PostgreSQL", settings.database_url, "database_url"),
        ("Redis", settings.redis_url, "redis_url"),
        ("Broker", settings.broker_url, "broker_url"),
    )
    for service, url, field in probes:
        try:
            _probe(url, timeout)
        except OSError as exc:
            detail = exc.strerror or _first_line(exc)
            raise ServiceUnreachable(service, redact(url), env_name(field), detail) from exc
