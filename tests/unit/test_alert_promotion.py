"""Staging alert promotion: every paging rule is registered with its ship day, the generated
Alertmanager routes are current, and the time intervals start exactly on promotion day."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import date, timedelta
from pathlib import Path

import pytest
import yaml

from sheen import alert_promotion as promotion

ALERTS = promotion.ROOT / "deploy" / "prometheus" / "alerts.yml"


def paging_rules() -> set[str]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return {
        r["alert"]
        for g in groups
        for r in g["rules"]
        if "alert" in r and r.get("labels", {}).get("severity") == "page"
    }


def test_every_paging_rule_has_a_ship_day() -> None:
    """Given alerts.yml, each severity=page rule is listed in promotion.yml."""
    # Given / When
    _, shipped = promotion.load_registry()
    # Then
    missing = paging_rules() - set(shipped)
    assert not missing, f"add to deploy/alertmanager/promotion.yml: {sorted(missing)}"


def test_generated_routes_are_current() -> None:
    """Given promotion.yml, alertmanager.yml holds exactly the routes it generates."""
    # Given / When / Then
    assert promotion.CONFIG.read_text() == promotion.generated_config(), (
        "run: .venv/bin/python -m sheen.alert_promotion --write"
    )


@pytest.mark.parametrize(
    "promoted",
    [
        date(2026, 12, 10),
        date(2026, 12, 31),
        date(2027, 1, 1),
        date(2027, 2, 28),
        date(2028, 2, 29),
    ],
)
def test_interval_starts_on_the_promotion_day(promoted: date) -> None:
    """Given a promotion day, the interval is inactive the day before and active from it on."""
    # Given
    entries = promotion.from_day(promoted)
    # When / Then
    assert not promotion.is_active(entries, promoted - timedelta(days=1))
    assert not promotion.is_active(entries, promoted - timedelta(days=40))
    for later in (0, 1, 20, 45, 400, 3000):
        assert promotion.is_active(entries, promoted + timedelta(days=later)), later


def test_promotion_is_the_configured_delay_after_shipping() -> None:
    """Given a ship day and promote_after_days, the route is gated from ship day + delay."""
    # Given
    days, shipped = promotion.load_registry()
    # When
    plan = promotion.plan(days, shipped)
    # Then
    for promoted, names in plan.items():
        for name in names:
            assert shipped[name] + timedelta(days=days) == promoted


def amtool() -> str:
    found = shutil.which("amtool")
    if not found:
        pytest.fail("amtool not found: run `make tools` (scripts/install-amtool.sh)", pytrace=False)
    return found


def test_amtool_accepts_the_generated_config(tmp_path: Path) -> None:
    """Given a registry with a rule shipped today and one long ago, amtool check-config
    accepts the generated config and routes both staging pages to pager,warning."""
    # Given
    registry = tmp_path / "promotion.yml"
    today = date.today()
    registry.write_text(
        "promote_after_days: 7\nshipped:\n"
        f"  SheenOld: {today - timedelta(days=30)}\n  SheenNew: {today}\n"
    )
    config = tmp_path / "alertmanager.yml"
    config.write_text(promotion.generated_config(registry=registry))
    # When
    check = subprocess.run([amtool(), "check-config", str(config)], capture_output=True, text=True)
    routes = {
        name: subprocess.run(
            [amtool(), "config", "routes", "test", f"--config.file={config}",
             "severity=page", "environment=staging", f"alertname={name}"],
            capture_output=True, text=True,
        ).stdout.strip()
        for name in ("SheenOld", "SheenNew", "SheenUnregistered")
    }  # fmt: skip
    # Then
    assert check.returncode == 0, check.stdout + check.stderr
    assert re.search(r"staging-pages-from-\d{4}-\d{2}-\d{2}", config.read_text())
    assert routes == {"SheenOld": "pager,warning", "SheenNew": "pager,warning",
                      "SheenUnregistered": "warning"}  # fmt: skip
