"""A task that acknowledges late without reject-on-worker-lost: a worker must refuse to start."""

from __future__ import annotations

from workers.app import app
from workers.base import FleetTask


@app.task(base=FleetTask, name="probe.unsafe_ack", bind=False, reject_on_worker_lost=False)
def unsafe_ack() -> None:
    """Never runs: its presence alone is refused."""
