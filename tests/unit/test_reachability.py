"""Library connection errors become one line naming the service, the URL without its
password and the setting; anything else is left alone."""

from __future__ import annotations

import psycopg
import pytest
import redis
import sqlalchemy.exc
from kombu.exceptions import OperationalError as KombuOperationalError

from sheen.reachability import ServiceUnreachable, check_services, explain, redact
from sheen.settings import Settings

SETTINGS = Settings(
    broker_url="redis://:brokerpw@broker.internal:6380/0",
    redis_url="redis://:statepw@state.internal:6379/1",
    database_url="postgresql://sheen:dbpw@db.internal:5432/sheen",
)


def test_redact_hides_only_the_password() -> None:
    """Given URLs with and without a password, only the password is masked."""
    # Given / When / Then
    assert redact("postgresql://sheen:dbpw@db:5432/x") == "postgresql://sheen:***@db:5432/x"
    assert redact("redis://:pw@r:6379/0") == "redis://:***@r:6379/0"
    assert redact("redis://r:6379/0") == "redis://r:6379/0"


@pytest.mark.parametrize(
    ("error", "service", "setting", "host"),
    [
        (psycopg.OperationalError("connection refused"), "PostgreSQL", "SHEEN_DATABASE_URL", "db.internal"),
        (
            sqlalchemy.exc.OperationalError("SELECT 1", {}, psycopg.OperationalError("timeout expired")),
            "PostgreSQL", "SHEEN_DATABASE_URL", "db.internal",
        ),
        (
            redis.ConnectionError("Error 111 connecting to state.internal:6379. Connection refused."),
            "Redis", "SHEEN_REDIS_URL", "state.internal",
        ),
        (
            redis.ConnectionError("Error 111 connecting to broker.internal:6380. Connection refused."),
            "Broker", "SHEEN_BROKER_URL", "broker.internal",
        ),
        (KombuOperationalError("[Errno 111] Connection refused"), "Broker", "SHEEN_BROKER_URL", "broker.internal"),
    ],
)  # fmt: skip
def test_connection_errors_name_service_url_and_setting(error, service, setting, host) -> None:
    """Given a library's connection error (possibly wrapped), the line names what to fix."""
    # Given: wrapped the way our code wraps library errors
    try:
        try:
            raise error
        except Exception as inner:
            raise RuntimeError("job failed") from inner
    except RuntimeError as outer:
        wrapped = outer
    # When
    found = explain(wrapped, SETTINGS)
    # Then
    assert isinstance(found, ServiceUnreachable)
    line = found.line()
    assert line.startswith(f"{service} unreachable at ") and host in line
    assert f"change {setting}" in line
    assert "pw@" not in line and ":***@" in line


def test_other_errors_are_not_explained() -> None:
    """Given an ordinary bug, explain returns None (the traceback stays)."""
    # Given / When / Then
    assert explain(ValueError("bug"), SETTINGS) is None


def test_check_services_names_the_first_closed_port() -> None:
    """Given a closed PostgreSQL port, the start-up check raises for PostgreSQL."""
    # Given
    from sheen.embedded import free_port

    closed = SETTINGS.model_copy(
        update={"database_url": f"postgresql://u:p@127.0.0.1:{free_port()}/x"}
    )
    # When
    with pytest.raises(ServiceUnreachable) as caught:
        check_services(closed, timeout=1)
    # Then
    assert caught.value.service == "PostgreSQL"
    assert caught.value.setting == "SHEEN_DATABASE_URL"
