"""trust_safety.appeal on real workers: link -> ticket with context -> helpdesk -> appeal_update e-mail."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import itsdangerous
import pytest
from sqlalchemy import text

from sheen.notifications import tokens
from sheen.settings import load_settings
from tests.notifications_support import (
    Helpdesk,
    Mailbox,
    add_user,
    appeal_link_token,
    email_of,
    notify_kwargs,
    rows,
    smtp_env,
    smtp_server,
)
from tests.reliability_support import clear_broker, letter_for

NOTIFY, APPEAL = "trust_safety.notify", "trust_safety.appeal"


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    """A real SMTP server (aiosmtpd) on a free port for one test."""
    with smtp_server() as box:
        yield box


@pytest.fixture
def helpdesk() -> Iterator[Helpdesk]:
    """A local helpdesk webhook that records each POST."""
    desk = Helpdesk()
    yield desk
    desk.server.shutdown()


def _tickets(engine) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(text("SELECT * FROM appeal_tickets")).mappings()]


def _notified(db, celery_app, mailbox, locale="fr"):
    """A content_violation sent to a new user; returns the user, the e-mail and its outcome."""
    user = add_user(db)
    kwargs = notify_kwargs(user, "content_violation", locale=locale,
                           params={"content_kind": "site", "violation_code": "T05"})  # fmt: skip
    outcome = celery_app.send_task(NOTIFY, kwargs=kwargs).get(timeout=30)
    [msg] = mailbox.wait_for(1)
    return user, msg, outcome


def test_appeal_round_trip_creates_a_ticket_with_context_and_answers_in_the_users_locale(
    db, services, start_worker, celery_app, mailbox, helpdesk
):
    """The link's token -> one ticket with public context, posted to the helpdesk, and a French update."""
    # Given a French notification with its one-click link, and a helpdesk webhook
    clear_broker(services)
    start_worker(concurrency=1, **smtp_env(mailbox, SHEEN_APPEAL_WEBHOOK_URL=helpdesk.url))
    user, msg, outcome = _notified(db, celery_app, mailbox)
    token = appeal_link_token(msg)
    # When the main application enqueues the appeal the user sent through the link
    result = celery_app.send_task(
        APPEAL,
        kwargs={"token": token, "user_id": str(user), "message": "Ce site est un portfolio."},
    ).get(timeout=30)
    # Then one ticket exists, with the context appended and no internal code
    [ticket] = _tickets(db)
    assert result["created"] is True and result["forwarded"] is True
    assert str(ticket["notification_id"]) == outcome["notification_id"]
    assert ticket["user_message"] == "Ce site est un portfolio."
    context = ticket["context"]
    assert context["category"] == "content_violation" and context["locale"] == "fr"
    assert context["subject"] == msg["Subject"]
    assert "un site" in context["text"] and "token=" not in context["text"]
    assert context["sent_at"] and context["notified_at"]
    assert "T05" not in repr(context)
    # And the helpdesk got it once, keyed by the ticket id
    [(body, headers)] = helpdesk.posts
    assert body["ticket_id"] == str(ticket["id"]) and headers["Idempotency-Key"] == str(
        ticket["id"]
    )
    assert ticket["forwarded_at"] is not None
    # And the user got an appeal_update e-mail in French
    update = mailbox.wait_for(2)[1]
    assert update["To"] == email_of(db, user)
    assert update["Subject"] == "Suivi de votre demande de réexamen"
    assert "Nous avons bien reçu votre demande" in update.get_content()
    assert "token=" not in update.get_content()  # an update is not itself appealable
    assert sorted(r["category"] for r in rows(db, user)) == ["appeal_update", "content_violation"]


def test_a_second_appeal_of_the_same_notification_keeps_one_ticket(
    db, services, start_worker, celery_app, mailbox
):
    """The link used twice: still one ticket and one appeal_update e-mail."""
    # Given
    clear_broker(services)
    start_worker(concurrency=1, **smtp_env(mailbox))
    user, msg, _ = _notified(db, celery_app, mailbox, locale="es")
    token = appeal_link_token(msg)
    # When
    first = celery_app.send_task(
        APPEAL, kwargs={"token": token, "user_id": str(user), "message": "a"}
    )
    second = celery_app.send_task(
        APPEAL, kwargs={"token": token, "user_id": str(user), "message": "b"}
    )
    # Then
    assert first.get(timeout=30)["created"] is True
    assert second.get(timeout=30)["created"] is False
    assert len(_tickets(db)) == 1
    time.sleep(0.5)
    assert [m["Subject"] for m in mailbox.messages][1:] == [
        "Novedades sobre su solicitud de revisión"
    ]


def _refusal(services, celery_app, kwargs) -> str:
    result = celery_app.send_task(APPEAL, kwargs=kwargs)
    letter = letter_for(services, result.id)
    assert letter.reason == "permanent"
    return letter.exc_message or ""


def test_forged_expired_and_foreign_tokens_are_refused(
    db, services, start_worker, celery_app, mailbox, monkeypatch
):
    """A forged token, an expired one, and another user's: each refused with a clear error, no ticket."""
    # Given one notified user, another user, and a one-hour token lifetime
    clear_broker(services)
    start_worker(concurrency=1, **smtp_env(mailbox), SHEEN_APPEAL_TOKEN_TTL_SECONDS="3600")
    user, msg, outcome = _notified(db, celery_app, mailbox)
    other = add_user(db)
    token = appeal_link_token(msg)
    settings = load_settings()
    # When the token is tampered with
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    # Then
    assert "appeal refused (token_invalid)" in _refusal(
        services, celery_app, {"token": forged, "user_id": str(user), "message": "x"}
    )
    # When a token signed with another secret names this user's notification
    foreign = itsdangerous.URLSafeTimedSerializer("x" * 40, salt=tokens.SALT).dumps(
        {"n": outcome["notification_id"], "u": str(user)}
    )
    assert "token_invalid" in _refusal(
        services, celery_app, {"token": foreign, "user_id": str(user), "message": "x"}
    )
    # When the token was issued two hours ago
    monkeypatch.setattr(
        itsdangerous.TimestampSigner, "get_timestamp", lambda _self: int(time.time()) - 7200
    )
    old = tokens.mint(settings, uuid.UUID(outcome["notification_id"]), user)
    monkeypatch.undo()
    assert "appeal refused (token_expired): the appeal link has expired" in _refusal(
        services, celery_app, {"token": old, "user_id": str(user), "message": "x"}
    )
    # When another user presents this user's valid link
    assert "appeal refused (not_owner)" in _refusal(
        services, celery_app, {"token": token, "user_id": str(other), "message": "x"}
    )
    # When a valid token names a notification of another user
    stolen = tokens.mint(settings, uuid.UUID(outcome["notification_id"]), other)
    assert "appeal refused (not_owner)" in _refusal(
        services, celery_app, {"token": stolen, "user_id": str(other), "message": "x"}
    )
    # Then no ticket was created and only the original e-mail was sent
    assert _tickets(db) == []
    assert len(mailbox.messages) == 1
