"""`trust_safety.appeal`: a verified appeal link becomes a ticket with context, forwarded to
the helpdesk, and an `appeal_update` notification in the user's locale.

Refused (AppealRefused, permanent): a forged or expired token, a user other than the
token's, a notification that is not that user's or does not exist, or one that cannot be
appealed. The ticket and its appeal_update notification commit together with the task's
done-mark; forwarding (ticket.forwarded_at) and the e-mail (notification status) are
recorded state transitions, so a redelivery resumes where the last one stopped.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import structlog
from sqlalchemy import Engine

from sheen.db.queries import query
from sheen.errors import SheenError, TransientError
from sheen.metrics import external_request
from sheen.notifications import store
from sheen.notifications.categories import TEMPLATES, AppealStatus, Category, Params, stored_params
from sheen.notifications.delivery import Transaction, render_for, send_recorded
from sheen.notifications.store import AREA, NewNotification, Recorded
from sheen.notifications.tokens import AppealRefused, verify
from sheen.reliability.done_marks import AlreadyDone
from sheen.settings import Settings

log = structlog.get_logger("sheen.notifications")


class HelpdeskRefused(SheenError):
    """The helpdesk webhook answered 4xx: the appeal is recorded but was not forwarded."""


@dataclass(frozen=True)
class AppealRequest:
    token: str
    user_id: uuid.UUID
    message: str
    locale: str | None  # negotiated header or field; None: the appealed notification's
    request_key: str


@dataclass(frozen=True)
class AppealOutcome:
    ticket_id: uuid.UUID
    notification_id: uuid.UUID
    created: bool
    forwarded: bool
    update_status: str | None
    update_reason: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "ticket_id": str(self.ticket_id),
            "notification_id": str(self.notification_id),
            "created": self.created,
            "forwarded": self.forwarded,
            "appeal_update": {"status": self.update_status, "reason": self.update_reason},
        }


def _refuse(reason: str, detail: str) -> AppealRefused:
    log.warning("appeal_refused", reason=reason)
    return AppealRefused(reason, detail)


def _appealed(engine: Engine, settings: Settings, request: AppealRequest) -> dict[str, Any]:
    """The notification the token names, checked to be the requesting user's."""
    try:
        claims = verify(settings, request.token)
    except AppealRefused as exc:
        raise _refuse(exc.reason, str(exc).split(": ", 1)[1]) from None
    if claims.user_id != request.user_id:
        raise _refuse("not_owner", "the notification is not this user's")
    row = store.notification(engine, claims.notification_id)
    if row is None or row["user_id"] != claims.user_id:
        raise _refuse("not_owner", "the notification is not this user's")
    if not TEMPLATES[Category(row["category"])].appealable:
        raise _refuse("not_appealable", f"a {row['category']} notification cannot be appealed")
    return row


def context_for(settings: Settings, row: dict[str, Any]) -> dict[str, Any]:
    """What the helpdesk sees beside the user's message: public facts only, no internal code."""
    rendered = render_for(settings, row, with_link=False)
    return {
        "category": row["category"],
        "locale": row["locale"],
        "notified_at": row["created_at"].isoformat(),
        "sent_at": row["sent_at"].isoformat() if row["sent_at"] else None,
        "appealed_at": datetime.now(UTC).isoformat(),
        "subject": rendered.subject,
        "text": rendered.text,
    }


def _forward(engine: Engine, settings: Settings, ticket: dict[str, Any]) -> bool:
    """POST the ticket to the helpdesk once (forwarded_at); False when no webhook is set."""
    if not settings.appeal_webhook_url:
        return False
    if ticket["forwarded_at"] is not None:
        return True
    body = {
        "ticket_id": str(ticket["id"]),
        "notification_id": str(ticket["notification_id"]),
        "user_id": str(ticket["user_id"]),
        "status": ticket["status"],
        "created_at": ticket["created_at"].isoformat(),
        "context": ticket["context"],
        "user_message": ticket["user_message"],
    }
    with external_request("webhook", settings) as call:
        try:
            response = httpx.post(
                settings.appeal_webhook_url, json=body,
                headers={"Idempotency-Key": str(ticket["id"])},
                timeout=settings.appeal_webhook_timeout_seconds,
            )  # fmt: skip
        except httpx.HTTPError as exc:
            raise TransientError(f"helpdesk webhook: {type(exc).__name__}") from None
        call.check_status(response.status_code)
    if response.status_code >= 500 or response.status_code == 429:
        raise TransientError(f"helpdesk webhook answered {response.status_code}")
    if response.status_code >= 400:
        raise HelpdeskRefused(f"helpdesk webhook answered {response.status_code}")
    with engine.begin() as conn:
        conn.execute(query(AREA, "mark_forwarded"), {"id": ticket["id"]})
    log.info("appeal_forwarded", ticket_id=str(ticket["id"]))
    return True


def appeal(
    transaction: Transaction, engine: Engine, settings: Settings, request: AppealRequest
) -> AppealOutcome:
    row = _appealed(engine, settings, request)
    update = NewNotification(
        user_id=row["user_id"],
        category=Category.APPEAL_UPDATE.value,
        locale=request.locale or row["locale"],
        params=stored_params(
            Params(
                action_date=row["created_at"],
                appeal_status=AppealStatus.RECEIVED,
                appealed_category=Category(row["category"]),
            )
        ),
        request_key=f"appeal_update:{row['id']}",
    )
    created = False
    recorded: Recorded | None = None
    try:
        with transaction() as conn:
            created = store.insert_ticket(
                conn, row["id"], request.message, context_for(settings, row)
            )
            if created:
                recorded = store.record(conn, update, settings.trust_safety_notifications)
    except AlreadyDone:
        log.info("appeal_resumed", notification_id=str(row["id"]))
    with engine.connect() as conn:
        ticket = store.ticket_for(conn, row["id"])
    if ticket is None:
        raise AlreadyDone(f"appeal of {row['id']}: done, but no ticket")
    if created:
        log.info("appeal_created", ticket_id=str(ticket["id"]), category=row["category"])
    recorded = recorded or store.by_request_key(engine, update.request_key)
    errors: list[Exception] = []
    forwarded = False
    try:
        forwarded = _forward(engine, settings, ticket)
    except SheenError as exc:
        errors.append(exc)
    status = reason = None
    if recorded is not None:
        status, reason = recorded.status, recorded.suppressed_reason
        if recorded.status == "pending":
            try:
                sent = send_recorded(engine, settings, recorded.id)
                status, reason = sent.status, sent.reason
            except SheenError as exc:
                errors.append(exc)
    if errors:
        raise next((e for e in errors if isinstance(e, TransientError)), errors[0])
    return AppealOutcome(ticket["id"], row["id"], created, forwarded, status, reason)
