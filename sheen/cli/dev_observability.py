"""What `make run` adds for observability: worker metrics port, the sidecar and Flower.

Ports are the documented defaults when free (metrics 9808, sidecar 8080, Flower
5555), else free ones; the supervisor prints the URLs and how to get a token.
"""

from __future__ import annotations

import sys
from pathlib import Path

from sheen.devserver import Supervisor
from sheen.embedded import free_port, port_open
from sheen.settings import Environment, Settings

FLOWER_PORT = 5555


def _port(preferred: int) -> int:
    return preferred if not port_open(preferred) else free_port()


def prepare(sup: Supervisor, settings: Settings) -> None:
    """Choose the worker's metrics port before the worker is spawned."""
    sup.env["SHEEN_METRICS_PORT"] = str(_port(settings.metrics_port or 9808))


def spawn(sup: Supervisor, settings: Settings) -> None:
    """Start the sidecar (gunicorn) and Flower, and say where they are."""
    sidecar_port = _port(settings.sidecar_port)
    flower_port = _port(FLOWER_PORT)
    sup.spawn(
        "sidecar",
        [
            sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{sidecar_port}",
            "--workers", "1", "sheen.sidecar.wsgi:app",
        ],
    )  # fmt: skip
    if settings.env is Environment.DEVELOPMENT:
        sup.env["FLOWER_UNAUTHENTICATED_API"] = "true"  # Flower's REST API, on loopback only
    sheen_ops = str(Path(sys.executable).with_name("sheen-ops"))
    sup.spawn("flower", [sheen_ops, "flower", f"--port={flower_port}", "--address=127.0.0.1"])
    metrics_port = sup.env["SHEEN_METRICS_PORT"]
    sup.say(f"worker metrics http://127.0.0.1:{metrics_port}/metrics")
    sup.say(f"sidecar        http://127.0.0.1:{sidecar_port}/  (open: /healthz /readyz /metrics)")
    sup.say(f"flower         http://127.0.0.1:{flower_port}/  (its own metrics: /metrics)")
    sup.say(
        "admin token:   TOKEN=$(.venv/bin/sheen-ops token mint --scope admin:read) && "
        f'curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:{sidecar_port}/api/jobs/overview'
    )
    sup.say(
        "dashboard in a browser: restart with SHEEN_SIDECAR_AUTH_DISABLED=true (loopback only, "
        "development only)"
    )
