"""The hourly dead-letter digest against a local webhook receiver, on a real worker."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from sheen.deadletters import DeadLetter
from tests.reliability_support import clear_broker, dlq, runs

HOUR = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)  # the digest sent at 15:00 covers 14:00-15:00


class Receiver:
    """A Slack-like webhook on 127.0.0.1 that answers the queued statuses, then 200."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.statuses: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                receiver.bodies.append(json.loads(self.rfile.read(length)))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *_args) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.server.shutdown()


@pytest.fixture
def worker(db, services, start_worker, celery_app, receiver):
    clear_broker(services)
    return start_worker(
        concurrency=1, SHEEN_ALERT_WEBHOOK_URL=receiver.url, SHEEN_RETRY_BACKOFF_SECONDS="0.05"
    )


def _letter(minute: int, job: str, exc: str, message: str, hour: int = 14) -> DeadLetter:
    at = datetime(2026, 11, 25, hour, minute, tzinfo=UTC).timestamp()
    return DeadLetter(
        task=job, reason="permanent", exc_type=exc, exc_message=message, dead_lettered_at=at
    )


def _digest(celery_app, hour: datetime = HOUR):
    return celery_app.send_task("jobs.dlq_digest", kwargs={"as_of": hour.isoformat()})


def test_one_message_per_hour_with_grouped_counts(worker, services, celery_app, receiver):
    """Letters of the hour are grouped by fingerprint in one webhook call; a second beat sends nothing."""
    # Given three letters in 14:00-15:00 (two alike but for a number) and one the hour before
    registry = dlq(services)
    registry.add(_letter(10, "jobs.a", "RuntimeError", "row 17 locked"))
    registry.add(_letter(20, "jobs.a", "RuntimeError", "row 42 locked"))
    registry.add(_letter(30, "jobs.b", "PayloadError", "bad day"))
    registry.add(_letter(30, "jobs.a", "RuntimeError", "row 1 locked", hour=13))
    # When the digest for 15:00 runs, and a second beat sends it again
    first = _digest(celery_app).get(timeout=30)
    second = _digest(celery_app).get(timeout=30)
    # Then one call, with the hour's three letters in two groups
    assert first["sent"] is True and first["letters"] == 3
    assert second["skipped"] is True
    assert len(receiver.bodies) == 1
    digest = receiver.bodies[0]["sheen_digest"]
    assert digest["total"] == 3
    groups = [(g["job"], g["exc_type"], g["message"], g["count"]) for g in digest["groups"]]
    assert groups == [
        ("jobs.a", "RuntimeError", "row <n> locked", 2),
        ("jobs.b", "PayloadError", "bad day", 1),
    ]
    assert digest["groups"][0]["first_seen"] < digest["groups"][0]["last_seen"]
    assert digest["oldest_age_seconds"] > 0
    assert "3 new dead letters" in receiver.bodies[0]["text"]


def test_nothing_is_sent_for_an_hour_without_letters(worker, celery_app, receiver):
    """An hour with no new dead letters sends no message at all."""
    result = _digest(celery_app).get(timeout=30)
    assert result == {"sent": False, "reason": "no_new_letters", "window_end": HOUR.timestamp()}
    assert receiver.bodies == []


def test_a_failing_webhook_is_retried_not_lost(worker, services, db, celery_app, receiver):
    """The receiver answers 500 twice: the digest is retried with backoff and delivered once."""
    # Given
    dlq(services).add(_letter(5, "jobs.a", "RuntimeError", "boom"))
    receiver.statuses = [500, 503]
    # When
    result = _digest(celery_app).get(timeout=30)
    # Then
    assert result["sent"] is True
    assert len(receiver.bodies) == 3
    assert [r["status"] for r in runs(db, "jobs.dlq_digest")] == ["retry", "retry", "success"]
