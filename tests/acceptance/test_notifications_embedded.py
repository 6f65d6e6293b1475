"""The 50-concurrent-sends test again, on the embedded pgserver PostgreSQL (no btree_gist)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

from tests.notifications_support import (
    Mailbox,
    add_user,
    notify_kwargs,
    pgserver_database,
    rows,
    smtp_env,
    smtp_server,
)
from tests.reliability_support import clear_broker, dlq


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    """A real SMTP server (aiosmtpd) on a free port for one test."""
    with smtp_server() as box:
        yield box


@pytest.fixture(scope="module")
def embedded(tmp_path_factory) -> Iterator[tuple[str, object]]:
    """pgserver's PostgreSQL on a free port in a temp folder, migrated; its URL and an engine."""
    with pgserver_database(tmp_path_factory.mktemp("tsn-embedded")) as url:
        engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
        yield url, engine
        engine.dispose()


def test_fifty_concurrent_sends_deliver_one_email_on_embedded_postgres(
    services, start_worker, celery_app, mailbox, embedded
):
    """Without btree_gist (the locking trigger), 50 sends at once still give exactly one e-mail."""
    # Given workers on the embedded database, where the migration chose the trigger
    url, engine = embedded
    with engine.connect() as conn:
        assert (
            conn.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'btree_gist'")).first()
            is None
        )
        assert conn.execute(
            text("SELECT 1 FROM pg_trigger WHERE tgname = 'trust_safety_notifications_rate_limit'")
        ).first()
    clear_broker(services)
    env = smtp_env(mailbox, SHEEN_DATABASE_URL=url)
    start_worker(concurrency=4, **env)
    start_worker(concurrency=4, **env)
    user = add_user(engine)
    # When 50 requests for one user and category arrive together
    results = [
        celery_app.send_task(
            "trust_safety.notify", kwargs=notify_kwargs(user, idempotency_key=f"e-{i}")
        )
        for i in range(50)
    ]
    outcomes = [r.get(timeout=90) for r in results]
    # Then one e-mail; 49 recorded rate_limited; nothing retried or dead-lettered
    assert (
        sorted((o["status"], o["reason"]) for o in outcomes)
        == [("sent", None)] + [("suppressed", "rate_limited")] * 49
    )
    time.sleep(0.5)
    assert len(mailbox.messages) == 1
    assert sorted(r["status"] for r in rows(engine, user)) == ["sent"] + ["suppressed"] * 49
    with engine.connect() as conn:
        statuses = (
            conn.execute(
                text("SELECT DISTINCT status FROM job_runs WHERE job = 'trust_safety.notify'")
            )
            .scalars()
            .all()
        )
    assert statuses == ["success"]
    assert dlq(services).list() == []
