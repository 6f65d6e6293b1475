"""docker-compose.yml stays valid and runs every fleet process."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
FLEET = {"redis", "postgres", "migrate", "worker", "beat", "flower", "sidecar"}


def _compose_cli() -> list[str] | None:
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30)
        if probe.returncode == 0:
            return ["docker", "compose"]
    return ["docker-compose"] if shutil.which("docker-compose") else None


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


def test_compose_cli_accepts_the_file():
    """Where a compose client exists, `compose config` accepts the file as written."""
    cli = _compose_cli()
    if cli is None:  # the engine never runs here; only the client's schema check is wanted
        return
    proc = subprocess.run(
        [*cli, "config", "-q"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
