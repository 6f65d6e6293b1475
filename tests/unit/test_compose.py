"""docker-compose.yml declares every fleet process.

`docker compose config -q` is the full check; this machine has the Docker client
without the compose plugin, so it is run by hand where compose exists.
"""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
FLEET = {"redis", "postgres", "migrate", "worker", "beat", "flower", "sidecar"}


def test_compose_file_declares_the_fleet():
    """Every fleet process is a service; fleet services wait for the one-shot migration."""
    spec = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = spec["services"]
    assert set(services) >= FLEET
    for name in ("worker", "beat", "sidecar", "flower"):
        assert (
            services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        )
    assert services["migrate"]["command"] == ["sheen-ops", "migrate"]
    assert "workers.app" in services["worker"]["command"]
