"""The "API Health" and "External dependencies" dashboards: owner and last-reviewed date in
their descriptions, valid PromQL on fleet metrics only, and linked from the alerts."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import pytest

from tests.unit.test_alert_rules import (
    ALLOWED_LABELS,
    DATASOURCE,
    ROOT,
    check_refs,
    dashboard_panels,
    dashboard_queries,
    promtool,
    read_rules,
    run,
)

BOARDS = {
    "api-health.json": "Sheen fleet / API Health",
    "external-dependencies.json": "Sheen fleet / External dependencies",
}
GRAFANA = ROOT / "deploy" / "grafana"
REVIEW_EVERY_DAYS = 180


def load(name: str) -> dict:
    return json.loads((GRAFANA / name).read_text())


@pytest.mark.parametrize(("name", "title"), BOARDS.items())
def test_dashboard_names_its_owner_and_last_review(name: str, title: str) -> None:
    """Given the dashboard, its description names an owner and a review date under 180 days old."""
    # Given / When
    board = load(name)
    # Then
    assert board["title"] == title
    assert re.search(r"Owner: [^.]+\.", board["description"]), board["description"]
    found = re.search(r"Last reviewed: (\d{4}-\d{2}-\d{2})", board["description"])
    assert found, board["description"]
    age = (date.today() - date.fromisoformat(found.group(1))).days
    assert 0 <= age <= REVIEW_EVERY_DAYS, f"{name}: review it (last {found.group(1)})"


@pytest.mark.parametrize("name", BOARDS)
def test_dashboard_queries_use_fleet_metrics_and_allowed_labels(name: str, tmp_path: Path) -> None:
    """Given the dashboard, every query names fleet metrics or recorded rules, filters on
    $environment and $region, keeps to the label budget and parses in promtool."""
    # Given
    board = load(name)
    recorded = {rule.name for rule in read_rules() if rule.kind == "record"}
    queries = dashboard_queries(board)
    assert queries
    # When / Then
    problems: list[str] = []
    for where, expr, legend in queries:
        problems += check_refs(where, expr, recorded)
        assert {"$environment", "$region"} <= set(re.findall(r"\$\w+", expr)), where
        for label in re.findall(r"\{\{\s*(\w+)\s*\}\}", legend):
            assert label in ALLOWED_LABELS, f"{where}: legend label {label}"
    assert not problems, "\n".join(problems)
    for panel in dashboard_panels(board):
        if panel.get("type") != "row":
            assert panel["datasource"] == DATASOURCE, panel["title"]
    exprs = [re.sub(r"\$__\w+", "5m", re.sub(r"\$\{?(?!__)\w+\}?", "x", e)) for _, e, _ in queries]
    rule_file = tmp_path / "rules.yml"
    rule_file.write_text(json.dumps({"groups": [{"name": "d", "rules": [
        {"record": f"dashboard:q{i}:check", "expr": e} for i, e in enumerate(exprs)]}]}))  # fmt: skip
    result = run([promtool(), "check", "rules", "--lint=none", str(rule_file)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_alerts_link_their_dashboard() -> None:
    """Given the alert rules, degraded and dependency alerts carry a dashboard annotation that
    points at an existing dashboard file."""
    # Given
    alerts = [rule for rule in read_rules() if rule.kind == "alert"]
    # When
    linked = {
        a.name: a.annotations.get("dashboard", "") for a in alerts if "dashboard" in a.annotations
    }
    # Then
    assert linked.get("SheenServerDegraded") == "deploy/grafana/api-health.json"
    assert linked.get("SheenDependencyErrorRateHigh") == "deploy/grafana/external-dependencies.json"
    for name, path in linked.items():
        assert (ROOT / path).is_file(), f"{name}: {path}"
