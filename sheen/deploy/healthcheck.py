"""Container health checks: `python -m sheen.deploy.healthcheck beat|sidecar`.

Exit 0 when healthy, 1 with one line on stderr when not. The worker's check is
Celery's own round trip (`celery -A workers.app inspect ping -d worker@$HOSTNAME`).

- beat on RedBeat (a lease in Redis): the lock key exists with a TTL, so a beat
  renewed it within the lock timeout. On a standby beat this says the fleet's active
  beat is alive, not this one; the standby itself only polls.
- beat on Celery's file scheduler: the schedule file was written within --max-age
  seconds (beat syncs it at least every few minutes).
- sidecar: GET /healthz on the sidecar's port answers 200.
"""

from __future__ import annotations

import sys
import time
import urllib.request
from pathlib import Path

import click


def _fail(message: str) -> None:
    click.echo(f"unhealthy: {message}", err=True)
    sys.exit(1)


@click.group()
def main() -> None:
    """Health checks for the fleet's containers."""


@main.command()
@click.option("--max-age", default=600.0, show_default=True, help="Oldest schedule file (s).")
def beat(max_age: float) -> None:
    """Beat holds (or some beat holds) its lease, or its schedule file is fresh."""
    from celery import Celery

    import celeryconfig
    from sheen.settings import load_settings

    # The configuration alone, not workers.app: no task module, logging or database import.
    app = Celery("sheen-healthcheck", set_as_current=False)
    app.conf.update(celeryconfig.build(load_settings()))
    conf = app.conf
    if "redbeat" in str(conf.beat_scheduler).lower():
        from redbeat.schedulers import RedBeatConfig, get_redis

        key = RedBeatConfig(app).lock_key
        ttl = get_redis(app).pttl(key)
        if ttl is None or ttl <= 0:
            _fail(f"no beat holds the lease {key}")
        return
    path = Path(conf.beat_schedule_filename)
    files = [p for p in path.parent.glob(path.name + "*") if p.is_file()]
    if not files:
        _fail(f"no schedule file {path}")
    age = time.time() - max(p.stat().st_mtime for p in files)
    if age > max_age:
        _fail(f"schedule file {path} last written {age:.0f} s ago")


@main.command()
@click.option("--port", type=int, help="Sidecar port (default SHEEN_SIDECAR_PORT).")
def sidecar(port: int | None) -> None:
    """The sidecar answers 200 on /healthz."""
    from sheen.settings import load_settings

    url = f"http://127.0.0.1:{port or load_settings().sidecar_port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            status = response.status
    except OSError as exc:
        _fail(f"{url}: {exc}")
    if status != 200:
        _fail(f"{url} answered {status}")


if __name__ == "__main__":
    main()
