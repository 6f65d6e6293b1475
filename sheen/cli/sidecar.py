"""`sheen-ops sidecar`: serve the read-only sidecar (gunicorn; `--dev` for werkzeug)."""

from __future__ import annotations

import os
import sys

import click

from sheen.deploy.checks import refuse_unsafe_start

# Path without the query string (`/login?token=...` carries a bearer token) and without
# the client address (no IPs in logs): time, request line, status, bytes, seconds.
ACCESS_LOG_FORMAT = '%(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(L)s'


@click.command()
@click.option("--host", help="Address to bind (default SHEEN_SIDECAR_HOST, 127.0.0.1).")
@click.option("--port", type=int, help="Port (default SHEEN_SIDECAR_PORT, 8080).")
@click.option("--workers", default=2, show_default=True, help="gunicorn worker processes.")
@click.option("--dev", is_flag=True, help="Werkzeug's development server instead of gunicorn.")
def sidecar(host: str | None, port: int | None, workers: int, dev: bool) -> None:
    """Serve /healthz, /readyz, /metrics, /api/*, /openapi.json and the dashboard."""
    from sheen.sidecar import create_app

    settings = refuse_unsafe_start("sidecar")
    host = host or settings.sidecar_host
    port = port or settings.sidecar_port
    app = create_app(settings)  # fail fast (exit 2) on a bad key or auth setting
    if dev:
        app.run(host=host, port=port, debug=False, use_reloader=False)
        return
    argv = [
        sys.executable, "-m", "gunicorn", "--bind", f"{host}:{port}", "--workers", str(workers),
        "--access-logfile", "-", "--access-logformat", ACCESS_LOG_FORMAT, "sheen.sidecar.wsgi:app",
    ]  # fmt: skip
    os.execv(sys.executable, argv)  # noqa: S606 (fixed argv, same interpreter)
