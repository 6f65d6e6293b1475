"""ops.server_health: every minute, the fleet evaluates its SLOs and advances the degraded state.

Nobody has to look for the state to move: this beat entry evaluates, extends or ends
the streak, exports `sheen_server_degraded` / `sheen_slo_violated` and stores the
report the sidecar shows; it also samples queue depth for the dashboard's last-hour
trend. Not deduplicated: a second evaluation in the same minute is harmless (the
streak keeps its start), and a skipped one would leave the state stale.
"""

from __future__ import annotations

from typing import Any

from schemas.jobs import WindowPayload
from sheen.db.engine import get_engine
from sheen.services.server_health import evaluate_and_publish
from sheen.services.state_sources import queue_depth_sampler, redis_client
from sheen.services.trends import record_queue_depths
from tasks.scheduled import job_options
from workers.app import app
from workers.base import FleetTask
from workers.context import RunContext

NAME = "ops.server_health"


class HealthJob(FleetTask):
    payload_schema = WindowPayload
    idempotent = False


@app.task(base=HealthJob, **job_options(NAME))
def server_health(ctx: RunContext) -> dict[str, Any]:
    payload = ctx.payload_as(WindowPayload)
    now = payload.as_of or None
    settings = ctx.settings
    client = redis_client(settings.redis_url)
    sampler = queue_depth_sampler(settings)
    report = evaluate_and_publish(settings, get_engine(settings), client, sampler, now)
    record_queue_depths(client, settings, sampler, report.generated_at)
    return {
        "degraded": report.degraded,
        "violated": report.violated,
        "generated_at": report.generated_at.isoformat(),
    }
