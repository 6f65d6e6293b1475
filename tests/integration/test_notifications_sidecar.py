"""The sidecar's notification reads: /api/user-notifications and /api/appeals (admin:read)."""

from __future__ import annotations

import json
import uuid

from sqlalchemy import text

from sheen.notifications.store import NewNotification, insert_ticket, record
from tests.notifications_support import add_user, email_of
from tests.sidecar_support import bearer, make_app, sidecar_settings


def _seed(db):
    """One user with a sent warning (and its appeal) and a rate-limited one."""
    user = add_user(db)
    with db.begin() as conn:
        first = record(conn, NewNotification(user, "account_warning", "es", {}, f"s1-{user}"), True)
        conn.execute(
            text(
                "UPDATE trust_safety_notifications SET status = 'sent', sent_at = now() WHERE id = :id"
            ),
            {"id": first.id},
        )
    with db.begin() as conn:
        record(conn, NewNotification(user, "account_warning", "es", {}, f"s2-{user}"), True)
        insert_ticket(conn, first.id, "Please look again", {"category": "account_warning", "locale": "es",
                                                            "notified_at": "2026-12-03T10:00:00+00:00"})  # fmt: skip
    return user, first.id


def test_user_notifications_lists_what_the_user_was_told(db):
    """A user's notifications, newest first, with statuses and reasons, and never the address."""
    # Given
    user, _ = _seed(db)
    settings = sidecar_settings()
    client = make_app(settings).test_client()
    # When
    response = client.get(
        f"/api/user-notifications?userId={user}", headers=bearer(settings, "admin:read")
    )
    # Then
    assert response.status_code == 200
    body = response.get_json()
    assert body["user_id"] == str(user)
    assert [(n["status"], n["suppressed_reason"]) for n in body["notifications"]] == [
        ("suppressed", "rate_limited"), ("sent", None),
    ]  # fmt: skip
    assert email_of(db, user) not in json.dumps(body)


def test_appeals_filters_by_status(db):
    """Open tickets are listed with their notification and user; another status lists none."""
    # Given
    user, notification_id = _seed(db)
    settings = sidecar_settings()
    client = make_app(settings).test_client()
    headers = bearer(settings, "admin:read")
    # When
    open_ = client.get("/api/appeals?status=open", headers=headers).get_json()
    resolved = client.get("/api/appeals?status=resolved", headers=headers).get_json()
    everything = client.get("/api/appeals", headers=headers).get_json()
    # Then
    [ticket] = open_["appeals"]
    assert ticket["notification_id"] == str(notification_id) and ticket["user_id"] == str(user)
    assert ticket["locale"] == "es" and "user_message" not in ticket
    assert resolved["appeals"] == []
    assert len(everything["appeals"]) == 1


def test_reads_need_a_token_and_valid_parameters(db):
    """No token: 401; a bad userId or status: 400 with a one-line detail."""
    settings = sidecar_settings()
    client = make_app(settings).test_client()
    headers = bearer(settings, "admin:read")
    assert client.get(f"/api/user-notifications?userId={uuid.uuid4()}").status_code == 401
    assert client.get("/api/appeals").status_code == 401
    bad_user = client.get("/api/user-notifications?userId=alice", headers=headers)
    assert bad_user.status_code == 400 and "userId" in bad_user.get_json()["detail"]
    assert client.get("/api/user-notifications", headers=headers).status_code == 400
    assert client.get("/api/appeals?status=closed", headers=headers).status_code == 400
