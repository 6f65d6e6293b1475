"""docker-compose.yml: the fleet, its health checks and secrets, checked by a compose tool.

`make tools` installs a compose implementation (Debian's `docker-compose` when the
Docker client has no compose plugin). Its `config` check resolves what reading the
YAML cannot: the compose schema (unknown keys, value types, port and duration syntax),
`${VAR:?}` interpolation from an env file, YAML anchors and merges, `depends_on`
conditions and references to declared secrets.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from sheen.deploy.checks import EXAMPLE_PASSWORDS

ROOT = Path(__file__).resolve().parents[2]
FLEET = {"redis", "postgres", "migrate", "worker", "beat", "flower", "sidecar"}
FLEET_CONTAINERS = ("migrate", "worker", "beat", "sidecar", "flower")


def compose_argv() -> list[str]:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0
    ):
        return [docker, "compose"]
    pytest.fail("no compose implementation; run `make tools` (scripts/install-compose.sh)")


def compose_config(env_file: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*compose_argv(), "--project-directory", str(ROOT), "-f", str(ROOT / "docker-compose.yml"),
         "--env-file", str(env_file), "config"],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
        env={"PATH": "/usr/local/bin:/usr/bin:/bin"},  # no stray REDIS_PASSWORD from the caller
    )  # fmt: skip


def env_file(tmp_path: Path, **values: str) -> Path:
    """.env.example with some values replaced (or removed, given as "")."""
    lines = []
    for line in (ROOT / ".env.example").read_text().splitlines():
        key = line.partition("=")[0]
        if key in values:
            if values[key]:
                lines.append(f"{key}={values[key]}")
            continue
        lines.append(line)
    path = tmp_path / "test.env"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_compose_file_declares_the_fleet():
    """Every fleet process is a service; fleet services wait for the one-shot migration."""
    # Given the compose file, When read, Then every process is there, after the migration
    spec = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = spec["services"]
    assert set(services) >= FLEET
    for name in ("worker", "beat", "sidecar", "flower"):
        assert (
            services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        )
    assert services["migrate"]["command"] == ["sheen-ops", "migrate"]
    assert "workers.app" in services["worker"]["command"]


def test_compose_config_accepts_the_example_env_file(tmp_path):
    """`compose config` validates the file with .env.example's values and resolves every URL from them."""
    # Given the example env file with real-looking passwords in place of the placeholders
    path = env_file(tmp_path, REDIS_PASSWORD="r" * 32, POSTGRES_PASSWORD="p" * 32)
    # When the compose tool renders the configuration
    result = compose_config(path)
    # Then it is valid and every fleet URL carries the passwords from the env file
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    for name in FLEET_CONTAINERS:
        env = services[name]["environment"]
        assert env["SHEEN_BROKER_URL"] == f"redis://:{'r' * 32}@redis:6379/0", name
        assert env["SHEEN_REDIS_URL"] == f"redis://:{'r' * 32}@redis:6379/1", name
        assert env["SHEEN_DATABASE_URL"] == f"postgresql://sheen:{'p' * 32}@postgres:5432/sheen"
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"] == "p" * 32
    assert "r" * 32 in services["redis"]["command"]  # requirepass
    assert services["flower"]["environment"]["FLOWER_BASIC_AUTH"] == "ops:change-me-flower"


@pytest.mark.parametrize("missing", ["REDIS_PASSWORD", "POSTGRES_PASSWORD", "FLOWER_BASIC_AUTH"])
def test_compose_config_refuses_a_missing_secret(tmp_path, missing):
    """Without a password in the env file, `compose config` fails and names it."""
    # Given an env file without one secret
    path = env_file(tmp_path, **{missing: ""})
    # When the compose tool renders the configuration
    result = compose_config(path)
    # Then it fails, saying which variable to set
    assert result.returncode != 0
    assert f"set {missing} in .env" in result.stderr


def test_no_secret_is_written_in_the_repository():
    """docker-compose.yml and the Dockerfile carry no password; .env is git-ignored."""
    # Given the files in the repository, Then no example password is written in them
    text = (ROOT / "docker-compose.yml").read_text() + (ROOT / "Dockerfile").read_text()
    for password in EXAMPLE_PASSWORDS:
        assert f":{password}@" not in text and f"PASSWORD: {password}" not in text, password
    ignored = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=ROOT)
    assert ignored.returncode == 0, ".env must be git-ignored"


def test_fleet_containers_are_locked_down_and_checked(tmp_path):
    """Fleet containers run read-only; worker, beat and sidecar have health checks; ports bind to loopback."""
    # Given the configuration rendered by the compose tool
    result = compose_config(env_file(tmp_path))
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    # Then fleet containers are read-only, checked, and published on loopback only
    for name in FLEET_CONTAINERS:
        assert services[name]["read_only"] is True, name
    worker = services["worker"]
    assert "worker@%h" in worker["command"]
    # ($$ is compose's escape: the shell in the container expands $HOSTNAME, i.e. %h)
    assert "inspect ping -d worker@$$HOSTNAME" in " ".join(worker["healthcheck"]["test"])
    assert services["beat"]["healthcheck"]["test"][-2:] == ["sheen.deploy.healthcheck", "beat"]
    assert "sidecar" in services["sidecar"]["healthcheck"]["test"]
    assert services["flower"]["command"][:2] == ["sheen-ops", "flower"]
    for name in ("worker", "sidecar", "flower"):
        for port in services[name]["ports"]:
            assert str(port).startswith("127.0.0.1:"), (name, port)
