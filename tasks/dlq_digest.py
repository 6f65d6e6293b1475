"""jobs.dlq_digest: once an hour, one webhook message summarising the last hour's dead letters.

Idempotent per hour twice over: the idempotency key is the hour (so two beats
sending it run it once), and a done-mark committed in PostgreSQL (plus a Redis
marker) only after the webhook answered 2xx stops a second send even if Redis
forgot the done key. A failing webhook is
a TransientError: the digest is retried with backoff, not lost.
"""

from __future__ import annotations

import time
from typing import Any

import structlog

from beat_schedule import JOBS_BY_NAME
from schemas.jobs import WindowPayload
from sheen.deadletters.digest import build_digest, post_webhook, slack_message
from sheen.reliability.clients import state_redis
from tasks.ghost_builds import WindowJob
from tasks.scheduled import job_options
from workers.app import app
from workers.context import RunContext
from workers.dead_lettering import registry

NAME = "jobs.dlq_digest"
WINDOW = JOBS_BY_NAME[NAME].period_seconds
MARKER = "sheen:dlq:digest:sent:"
MARKER_TTL_SECONDS = 14 * 86400
log = structlog.get_logger("sheen.jobs")


class DigestJob(WindowJob):
    payload_schema = WindowPayload
    window_seconds = WINDOW


@app.task(base=DigestJob, **job_options(NAME))
def dlq_digest(ctx: RunContext) -> dict[str, Any]:
    """Summarise the hour before the window that holds the send time (beat sends at :00)."""
    payload = ctx.payload_as(WindowPayload)
    end = payload.resolve_window(ctx.sent_at, WINDOW).timestamp()
    start = end - WINDOW
    marker = f"{MARKER}{int(end)}"
    state = state_redis(ctx.settings)
    if state.exists(marker):
        return {"sent": False, "reason": "already_sent", "window_end": end}
    ctx.check_not_done()  # PostgreSQL's done-mark: sent even if Redis lost the marker
    dlq = registry(ctx.settings)
    digest = build_digest(dlq.between(start, end), start, end, time.time(), dlq.oldest())
    if digest.total == 0:
        return {"sent": False, "reason": "no_new_letters", "window_end": end}
    url = ctx.settings.alert_webhook_url
    if not url:
        log.warning("dlq_digest_unconfigured", letters=digest.total)
        return {"sent": False, "reason": "no_webhook", "letters": digest.total}
    status = post_webhook(url, slack_message(digest), ctx.settings.alert_webhook_timeout_seconds)
    with ctx.transaction():
        pass  # the done-mark alone: this hour's digest was sent
    state.set(marker, status, ex=MARKER_TTL_SECONDS)
    log.info("dlq_digest_sent", letters=digest.total, groups=len(digest.groups))
    return {"sent": True, "letters": digest.total, "groups": len(digest.groups), "window_end": end}
