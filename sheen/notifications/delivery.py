"""Record a notification request, then send it: the two steps of `trust_safety.notify`.

1. Record (one transaction, with the task's done-mark): the row is pending (counts against
   the 12-hour limit) or suppressed with a reason (rate_limited, kill_switch). Suppressed
   requests end here: not retried, not dead-lettered.
2. Send (after the record committed): the row is locked, the e-mail sent with the
   notification id as its Message-ID, and the row marked sent in the same transaction.
   A redelivery finds `sent` and sends nothing. The one window left: the SMTP server
   accepted the message and the worker died before the commit; the redelivery sends it
   again with the same Message-ID (see docs/how-to/trust-safety-notifications.md).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import Connection, Engine

from sheen.db.queries import query
from sheen.errors import SheenError, TransientError
from sheen.notifications import smtp, tokens
from sheen.notifications.catalog import Rendered, render
from sheen.notifications.categories import TEMPLATES, Category, Params
from sheen.notifications.store import AREA, NewNotification, Recorded, by_request_key, record
from sheen.reliability.done_marks import AlreadyDone
from sheen.settings import Settings

log = structlog.get_logger("sheen.notifications")
Transaction = Callable[[], AbstractContextManager[Connection]]


@dataclass(frozen=True)
class Outcome:
    notification_id: uuid.UUID
    status: str  # sent, suppressed, failed
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"notification_id": str(self.notification_id), "status": self.status,
                "reason": self.reason}  # fmt: skip


def record_once(
    transaction: Transaction, engine: Engine, settings: Settings, new: NewNotification
) -> Recorded:
    """Record the request with the task's done-mark; a redelivery gets the recorded row."""
    try:
        with transaction() as conn:
            recorded = record(conn, new, settings.trust_safety_notifications)
    except AlreadyDone:
        found = by_request_key(engine, new.request_key)
        if found is None:
            raise
        log.info("notification_resumed", notification_id=str(found.id), status=found.status)
        return found
    if recorded.status == "suppressed":
        log.info(
            "notification_suppressed", notification_id=str(recorded.id),
            category=new.category, reason=recorded.suppressed_reason,
        )  # fmt: skip
    else:
        log.info("notification_recorded", notification_id=str(recorded.id), category=new.category)
    return recorded


def render_for(settings: Settings, row: dict[str, Any], with_link: bool = True) -> Rendered:
    """The text of a recorded notification (the appeal link minted now, if it has one)."""
    category = Category(row["category"])
    params = Params.model_validate(row["params"])
    url = expires = None
    if with_link and TEMPLATES[category].appealable:
        url = tokens.appeal_url(settings, tokens.mint(settings, row["id"], row["user_id"]))
        expires = tokens.expires_at(settings)
    return render(
        category, row["locale"], params, created_at=row["created_at"],
        appeal_url=url, appeal_expires_at=expires,
    )  # fmt: skip


def send_recorded(engine: Engine, settings: Settings, notification_id: uuid.UUID) -> Outcome:
    """Send a pending notification once; raise TransientError (retry) or DeliveryRefused."""
    failure: SheenError | None = None
    with engine.begin() as conn:
        row = conn.execute(query(AREA, "lock_for_send"), {"id": notification_id}).mappings().one()
        if row["status"] != "pending":
            return Outcome(notification_id, row["status"], "already_" + row["status"])
        if not settings.trust_safety_notifications:
            conn.execute(query(AREA, "suppress_pending"), {"id": notification_id})
            log.info("notification_suppressed", notification_id=str(notification_id),
                     category=row["category"], reason="kill_switch")  # fmt: skip
            return Outcome(notification_id, "suppressed", "kill_switch")
        if not row["email"]:
            failure = smtp.DeliveryRefused("the user has no e-mail address")
            conn.execute(
                query(AREA, "mark_failed"), {"id": notification_id, "reason": "no_address"}
            )
        else:
            rendered = render_for(settings, dict(row))
            msg = smtp.build_message(
                settings, notification_id, row["email"], rendered.subject, rendered.text,
                rendered.locale,
            )  # fmt: skip
            try:
                smtp.send(settings, msg)
            except smtp.DeliveryRefused as exc:
                failure = exc
                conn.execute(
                    query(AREA, "mark_failed"), {"id": notification_id, "reason": str(exc)}
                )
            except TransientError as exc:
                failure = exc
                conn.execute(
                    query(AREA, "count_attempt"), {"id": notification_id, "reason": str(exc)}
                )
            else:
                conn.execute(query(AREA, "mark_sent"), {"id": notification_id})
    if failure is not None:
        log.warning("notification_send_failed", notification_id=str(notification_id),
                    error_type=type(failure).__name__, error=str(failure))  # fmt: skip
        raise failure
    log.info("notification_sent", notification_id=str(notification_id), category=row["category"])
    return Outcome(notification_id, "sent")


def notify(
    transaction: Transaction, engine: Engine, settings: Settings, new: NewNotification
) -> Outcome:
    """Record, apply the limit and the kill switch, then send what counts."""
    recorded = record_once(transaction, engine, settings, new)
    if recorded.status == "suppressed":
        return Outcome(recorded.id, "suppressed", recorded.suppressed_reason)
    return send_recorded(engine, settings, recorded.id)
