"""`sheen-ops notifications preview|list` as an operator runs them (the real entry point)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from sheen.notifications.store import NewNotification, record
from tests.notifications_support import add_user

ROOT = Path(__file__).resolve().parents[2]
SHEEN_OPS = str(ROOT / ".venv" / "bin" / "sheen-ops")


def _run(services, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SHEEN_OPS, "notifications", *args], cwd=ROOT, env=services.env(),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_preview_renders_a_category_in_a_negotiated_locale(services):
    """preview --category C --locale fr-CA prints the French e-mail; --json gives the same fields."""
    # When
    out = _run(services, "preview", "--category", "account_warning", "--locale", "fr-CA")
    data = _run(services, "preview", "--category", "appeal_update", "--locale", "xx-!!", "--json")
    # Then
    assert out.returncode == 0, out.stderr
    assert "Subject: Avis concernant votre compte SheenApps" in out.stdout
    assert json.loads(data.stdout)["locale"] == "en"
    assert json.loads(data.stdout)["subject"] == "An update on your request for review"


def test_preview_refuses_an_unknown_category_with_exit_2(services):
    """An unknown category is a usage error: exit status 2."""
    out = _run(services, "preview", "--category", "account_ban")
    assert out.returncode == 2 and "account_ban" in out.stderr


def test_list_shows_a_users_notifications(db, services):
    """list --user U --json: the user's rows with status and reason; a bad id exits 2."""
    # Given
    user = add_user(db)
    with db.begin() as conn:
        record(conn, NewNotification(user, "content_violation", "en", {}, f"c1-{user}"), True)
    with db.begin() as conn:
        record(conn, NewNotification(user, "content_violation", "en", {}, f"c2-{user}"), True)
    # When
    out = _run(services, "list", "--user", str(user), "--json")
    table = _run(services, "list", "--user", str(user))
    # Then
    assert out.returncode == 0, out.stderr
    assert sorted((r["status"], r["suppressed_reason"]) for r in json.loads(out.stdout)) == [
        ("pending", None), ("suppressed", "rate_limited"),
    ]  # fmt: skip
    assert "rate_limited" in table.stdout and table.stdout.startswith("ID")
    assert _run(services, "list", "--user", "bob").returncode == 2
