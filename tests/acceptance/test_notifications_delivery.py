"""trust_safety.notify on real workers, a real SMTP server (aiosmtpd) and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis
from sqlalchemy import text

from tests.notifications_support import (
    Mailbox,
    add_user,
    email_of,
    notify_kwargs,
    rows,
    smtp_env,
    smtp_server,
)
from tests.reliability_support import clear_broker, dlq, letter_for, runs, wait_until

NOTIFY = "trust_safety.notify"


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    """A real SMTP server (aiosmtpd) on a free port for one test."""
    with smtp_server() as box:
        yield box


def _send_many(celery_app, kwargs_list, headers=None):
    return [celery_app.send_task(NOTIFY, kwargs=k, headers=headers) for k in kwargs_list]


def test_fifty_concurrent_sends_deliver_exactly_one_email(
    db, services, start_worker, celery_app, mailbox
):
    """50 sends for one user and category at once: one e-mail; 49 recorded rate_limited, none retried."""
    # Given two workers of four processes each on the machine's PostgreSQL, one user
    clear_broker(services)
    env = smtp_env(mailbox)
    start_worker(concurrency=4, **env)
    start_worker(concurrency=4, **env)
    user = add_user(db)
    # When 50 moderation actions ask to warn the user at the same time
    results = _send_many(
        celery_app, [notify_kwargs(user, idempotency_key=f"mod-{i}") for i in range(50)]
    )
    outcomes = [r.get(timeout=90) for r in results]
    # Then exactly one e-mail arrived, and the database holds 1 sent + 49 suppressed
    assert (
        sorted((o["status"], o["reason"]) for o in outcomes)
        == [("sent", None)] + [("suppressed", "rate_limited")] * 49
    )
    time.sleep(0.5)  # nothing else is on its way
    assert len(mailbox.messages) == 1
    assert mailbox.messages[0]["To"] == email_of(db, user)
    recorded = rows(db, user)
    assert sorted(r["status"] for r in recorded) == ["sent"] + ["suppressed"] * 49
    assert {r["suppressed_reason"] for r in recorded if r["status"] == "suppressed"} == {
        "rate_limited"
    }
    # And none was retried or dead-lettered
    assert {r["status"] for r in runs(db, NOTIFY)} == {"success"}
    assert all(r["retries"] == 0 for r in runs(db, NOTIFY))
    assert dlq(services).list() == []


def test_email_is_in_the_header_locale_with_the_id_as_message_id(
    db, services, start_worker, celery_app, mailbox
):
    """x-sheen-locale es-MX gives Spanish; Message-ID is the notification id; no internal code shows."""
    # Given
    clear_broker(services)
    start_worker(concurrency=1, **smtp_env(mailbox))
    user = add_user(db)
    kwargs = notify_kwargs(
        user, "content_violation", locale="fr",
        params={"content_kind": "page", "violation_code": "T05", "moderator_note": "spam ring #4411",
                "internal_id": "case-99812"},
    )  # fmt: skip
    # When the main application sends it with the locale header
    result = celery_app.send_task(NOTIFY, kwargs=kwargs, headers={"x-sheen-locale": "es-MX"})
    outcome = result.get(timeout=30)
    # Then one Spanish e-mail, identified by the notification id, with none of the internal text
    [msg] = mailbox.wait_for(1)
    assert outcome["status"] == "sent"
    assert msg["Message-ID"] == f"<{outcome['notification_id']}@sheenapps.local>"
    assert msg["X-Sheen-Notification-Id"] == outcome["notification_id"]
    assert msg["Content-Language"] == "es"
    assert msg["Subject"] == "Hemos revisado contenido de su cuenta de SheenApps"
    body = msg.get_content()
    assert "una página" in body and "https://app.example.test/appeal?token=" in body
    for secret in ("T05", "spam ring", "4411", "case-99812", outcome["notification_id"]):
        assert secret not in body and secret not in msg["Subject"]
    # And only the typed parameter was stored
    assert rows(db, user)[0]["params"] == {"content_kind": "page"}
    assert rows(db, user)[0]["locale"] == "es"


def test_a_redelivery_after_sent_is_recorded_sends_nothing(
    db, services, start_worker, celery_app, mailbox
):
    """Same request again after its done-key vanished from Redis: the sent row stops a second e-mail."""
    # Given one notification sent
    clear_broker(services)
    start_worker(concurrency=1, **smtp_env(mailbox))
    user = add_user(db)
    kwargs = notify_kwargs(user, idempotency_key="mod-redeliver")
    first = celery_app.send_task(NOTIFY, kwargs=kwargs).get(timeout=30)
    mailbox.wait_for(1)
    # When Redis forgets the done-key (flushed) and the same message is delivered again
    redis.Redis.from_url(services.redis_url).flushdb()
    again = celery_app.send_task(NOTIFY, kwargs=kwargs).get(timeout=30)
    # Then the recorded row is found and nothing is sent twice
    assert again == {**first, "reason": "already_sent"}
    time.sleep(0.5)
    assert len(mailbox.messages) == 1
    assert [r["status"] for r in rows(db, user)] == ["sent"]


def test_kill_switch_records_everything_suppressed_and_no_backlog_on_return(
    db, services, start_worker, celery_app, mailbox
):
    """TRUST_SAFETY_NOTIFICATIONS=off: nothing sent, all recorded kill_switch; back on, only new ones go."""
    # Given a worker started with the switch off (the unprefixed name)
    clear_broker(services)
    off = start_worker(concurrency=1, **smtp_env(mailbox), TRUST_SAFETY_NOTIFICATIONS="off")
    user = add_user(db)
    # When three categories are requested
    categories = ["content_violation", "account_warning", "appeal_update"]
    outcomes = [
        r.get(timeout=30)
        for r in _send_many(celery_app, [notify_kwargs(user, c) for c in categories])
    ]
    # Then none is sent, each is recorded suppressed kill_switch
    assert [(o["status"], o["reason"]) for o in outcomes] == [("suppressed", "kill_switch")] * 3
    # When the switch is on again (SHEEN_ name) and a new warning comes
    off.stop()
    start_worker(concurrency=1, **smtp_env(mailbox, SHEEN_TRUST_SAFETY_NOTIFICATIONS="on"))
    new = celery_app.send_task(NOTIFY, kwargs=notify_kwargs(user, idempotency_key="after")).get(
        timeout=30
    )
    # Then only the new one is delivered: the suppressed backlog is never sent
    assert new["status"] == "sent"
    time.sleep(0.5)
    assert len(mailbox.messages) == 1
    statuses = sorted((r["status"], r["suppressed_reason"]) for r in rows(db, user))
    assert statuses == [("sent", None)] + [("suppressed", "kill_switch")] * 3


def test_unknown_category_is_dead_lettered_without_a_row(
    db, services, start_worker, celery_app, mailbox
):
    """A category outside the four: a permanent payload error, dead-lettered, nothing recorded or sent."""
    # Given
    clear_broker(services)
    start_worker(concurrency=1, **smtp_env(mailbox))
    user = add_user(db)
    # When
    result = celery_app.send_task(NOTIFY, kwargs=notify_kwargs(user, "account_ban"))
    # Then
    letter = letter_for(services, result.id)
    assert letter.reason == "permanent"
    assert "category" in (letter.exc_message or "")
    assert rows(db, user) == []
    assert mailbox.messages == []


def test_unreachable_smtp_is_retried_then_dead_lettered(db, services, start_worker, celery_app):
    """No SMTP server listening: retried with backoff, then dead-lettered retries_exhausted with the reason."""
    # Given a worker pointed at a port nobody listens on, with quick retries
    from sheen.embedded import free_port

    clear_broker(services)
    start_worker(
        concurrency=1, SHEEN_SMTP_HOST="127.0.0.1", SHEEN_SMTP_PORT=str(free_port()),
        SHEEN_RETRY_BACKOFF_SECONDS="0.05", SHEEN_RETRY_BACKOFF_MAX_SECONDS="0.2",
    )  # fmt: skip
    user = add_user(db)
    # When
    result = celery_app.send_task(NOTIFY, kwargs=notify_kwargs(user))
    # Then every attempt was counted on the row, and the letter names the reason
    letter = letter_for(services, result.id, timeout=60)
    assert letter.reason == "retries_exhausted"
    assert "SMTP unreachable: ConnectionRefusedError" in (letter.exc_message or "")
    [row] = rows(db, user)
    assert row["status"] == "pending" and row["attempts"] == 6
    assert row["failure_reason"] == "SMTP unreachable: ConnectionRefusedError"
    assert [r["status"] for r in runs(db, NOTIFY)].count("retry") == 5


def test_refused_recipient_is_permanent_and_deferred_one_is_retried(
    db, services, start_worker, celery_app, mailbox
):
    """550 at RCPT: failed and dead-lettered at once; 451: retried, then delivered once accepted."""
    # Given a server that refuses one address and defers another
    clear_broker(services)
    start_worker(concurrency=1, **smtp_env(mailbox), SHEEN_RETRY_BACKOFF_SECONDS="0.5",
                 SHEEN_RETRY_BACKOFF_MAX_SECONDS="1")  # fmt: skip
    refused, deferred = add_user(db), add_user(db)
    mailbox.refuse.add(email_of(db, refused))
    mailbox.defer.add(email_of(db, deferred))
    # When both are notified
    bad = celery_app.send_task(NOTIFY, kwargs=notify_kwargs(refused))
    later = celery_app.send_task(NOTIFY, kwargs=notify_kwargs(deferred))
    # Then the refused one is dead-lettered permanent without a retry, its row failed
    letter = letter_for(services, bad.id)
    assert letter.reason == "permanent"
    assert "SMTP 550: recipient refused" in (letter.exc_message or "")
    assert email_of(db, refused) not in repr(letter.__dict__)
    [row] = rows(db, refused)
    assert (row["status"], row["failure_reason"]) == ("failed", "SMTP 550: recipient refused")
    # And the deferred one is retried until the server accepts it
    wait_until(lambda: rows(db, deferred) and rows(db, deferred)[0]["attempts"] >= 1, 30, "a 451")
    mailbox.defer.clear()
    assert later.get(timeout=60)["status"] == "sent"
    assert len(mailbox.to(email_of(db, deferred))) == 1
    assert rows(db, deferred)[0]["attempts"] >= 2


def test_a_user_without_an_address_fails_permanently(
    db, services, start_worker, celery_app, mailbox
):
    """No e-mail in auth.users: the notification is recorded failed (no_address) and dead-lettered."""
    # Given
    clear_broker(services)
    start_worker(concurrency=1, **smtp_env(mailbox))
    user = add_user(db)
    with db.begin() as conn:
        conn.execute(text("UPDATE auth.users SET email = NULL WHERE id = :id"), {"id": user})
    # When
    result = celery_app.send_task(NOTIFY, kwargs=notify_kwargs(user))
    # Then
    assert letter_for(services, result.id).reason == "permanent"
    assert [(r["status"], r["failure_reason"]) for r in rows(db, user)] == [
        ("failed", "no_address")
    ]


def test_worker_killed_after_smtp_accepted_resends_with_the_same_message_id(
    db, services, start_worker, celery_app, mailbox
):
    """The documented window: SMTP has the message, the worker dies before `sent` commits."""
    # Given a server that stores the message and then holds its reply
    clear_broker(services)
    worker = start_worker(concurrency=1, **smtp_env(mailbox))
    user = add_user(db)
    mailbox.hold.set()
    result = celery_app.send_task(NOTIFY, kwargs=notify_kwargs(user))
    mailbox.wait_for(1)
    # When the pool child is SIGKILLed while waiting for the reply, and the server resumes
    [child] = worker.children()
    child.kill()
    mailbox.hold.clear()
    # Then the redelivery sends once more, with the same Message-ID, and the row ends sent
    outcome = result.get(timeout=60)
    first, second = mailbox.wait_for(2)
    assert (
        first["Message-ID"]
        == second["Message-ID"]
        == f"<{outcome['notification_id']}@sheenapps.local>"
    )
    [row] = rows(db, user)
    assert (row["status"], row["attempts"]) == ("sent", 1)
    time.sleep(0.5)
    assert len(mailbox.messages) == 2
