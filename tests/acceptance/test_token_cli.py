"""`sheen-ops token mint`: a development token the sidecar accepts; refused in production."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sheen.security.tokens import TokenVerifier
from sheen.settings import parse_settings
from sheen.sidecar.dev_secret import token_config

SHEEN_OPS = str(Path(sys.executable).with_name("sheen-ops"))


def mint(tmp_path: Path, *args: str, env: str = "development") -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SHEEN_")}
    environ.update(SHEEN_ENV=env, SHEEN_STATE_DIR=str(tmp_path / "state"))
    return subprocess.run(
        [SHEEN_OPS, "token", "mint", *args], env=environ, capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip


def test_minted_dev_token_verifies_with_the_sidecar_config(tmp_path):
    """Without configured keys, mint and the sidecar share the state folder's dev secret."""
    result = mint(tmp_path, "--scope", "admin:write", "--ttl", "5m")
    assert result.returncode == 0, result.stderr
    settings = parse_settings({"SHEEN_STATE_DIR": str(tmp_path / "state")})
    claims = TokenVerifier(token_config(settings)).verify(
        f"Bearer {result.stdout.strip()}", "admin:read"
    )
    assert claims.scopes == {"admin:write"}
    assert claims.expires_at - claims.issued_at == 300
    assert (tmp_path / "state" / "dev-jwt-secret").stat().st_mode & 0o777 == 0o600


def test_mint_refuses_production(tmp_path):
    """SHEEN_ENV=production: exit 2, no token printed."""
    result = mint(tmp_path, "--scope", "admin:read", env="production")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "refused in production" in result.stderr


def test_mint_refuses_bad_scope_and_ttl(tmp_path):
    """An unknown scope or a TTL over 24 h is a usage error (exit 2)."""
    assert mint(tmp_path, "--scope", "admin:root").returncode == 2
    assert mint(tmp_path, "--scope", "admin:read", "--ttl", "3d").returncode == 2
