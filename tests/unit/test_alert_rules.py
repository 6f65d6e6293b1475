"""Prometheus alert rules, Alertmanager example and Grafana dashboard stay valid and consistent.

promtool (Debian package `prometheus`, installed by `make tools` / scripts/install-promtool.sh)
checks and unit-tests deploy/prometheus/alerts.yml; a missing promtool fails these tests.

No YAML library is needed: alerts.yml is read with a small line-based reader that expects
the layout the file uses (`- record:` / `- alert:` items, `expr: |` blocks, flat `labels:`
and `annotations:` maps), and promtool's own rule count cross-checks that reader.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import beat_schedule

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
ALERTS_TEST = ROOT / "deploy" / "prometheus" / "alerts_test.yml"
PROMETHEUS_CONFIG = ROOT / "deploy" / "prometheus" / "prometheus.yml"
ALERTMANAGER_CONFIG = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "jobs-overview.json"

# The fleet's metric names (fixed by the metrics contract) and their types.
FLEET_METRICS = {
    "sheen_job_duration_seconds": "histogram",
    "sheen_job_runs_total": "counter",
    "sheen_job_retries_total": "counter",
    "sheen_dead_letters": "gauge",
    "sheen_queue_depth": "gauge",
    "sheen_tasks_missing": "gauge",
    "sheen_queue_wait_seconds": "histogram",
    "sheen_middleware_overhead_seconds": "histogram",
    "sheen_external_requests_total": "counter",
    "sheen_job_last_success_timestamp_seconds": "gauge",
    "sheen_migration_verifications_total": "counter",
    "sheen_artifact_lifecycle_total": "counter",
    "sheen_artifact_restores_total": "counter",
    "sheen_artifact_restore_refusals_total": "counter",
    "sheen_migration_analytics_events_total": "counter",
    "sheen_server_degraded": "gauge",
    "sheen_slo_violated": "gauge",
}
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
ALLOWED_LABELS = {
    "service", "environment", "region", "job", "queue", "dependency", "slo", "status",
}  # fmt: skip
SEVERITIES = {"warning", "page"}
# Scheduled jobs and their periods in seconds; the dead-man threshold is twice the period.
SCHEDULED_PERIODS = {
    "jobs.daily_reset": 86400,
    "jobs.daily_bonus_reset": 86400,
    "jobs.ghost_build_detection": 300,
    "jobs.cleanup_artifacts": 3600,
    "jobs.artifacts_cold_move": 3600,
    "jobs.artifacts_purge": 86400,
    "jobs.prune_job_run_rollups": 86400,
    "jobs.prune_done_marks": 86400,
    "jobs.dlq_digest": 3600,
    "ops.server_health": 60,
}
PROMQL_KEYWORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
    "bool", "offset", "inf", "nan", "atan2",
}  # fmt: skip
GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^()]*)\)")


# --------------------------------------------------------------------------- helpers


def promtool() -> str:
    """Return the promtool path, failing the test with the fix when it is missing."""
    found = shutil.which("promtool")
    if not found and Path("/usr/bin/promtool").exists():
        found = "/usr/bin/promtool"
    if not found:
        pytest.fail(
            "promtool not found on PATH or at /usr/bin/promtool: run `make tools` "
            "(scripts/install-promtool.sh installs Debian's `prometheus` package)",
            pytrace=False,
        )
    return found


def run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    """Run a tool from the repository root and capture its output."""
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=240, check=False)


@dataclass
class Rule:
    kind: str  # "record" or "alert"
    name: str
    expr: str = ""
    duration: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


RULE_ITEM = re.compile(r"^( *)- (record|alert):[ \t]*(.+)$", re.M)
BLOCK_SCALAR = {"|", "|-", "|+", ">", ">-"}


def read_rules(path: Path = ALERTS) -> list[Rule]:
    """Read the rules of a Prometheus rule file written in alerts.yml's layout."""
    text = path.read_text()
    items = list(RULE_ITEM.finditer(text))
    rules = []
    for index, item in enumerate(items):
        end = items[index + 1].start() if index + 1 < len(items) else len(text)
        rule = Rule(kind=item.group(2), name=_unquote(item.group(3)))
        _read_rule_body(rule, len(item.group(1)) + 2, text[item.end() : end])
        rules.append(rule)
    return rules


def _read_rule_body(rule: Rule, indent: int, body: str) -> None:
    """Fill a rule from the lines after its `- alert:`/`- record:` line."""
    key = ""
    expr_lines: list[str] = []
    for line in body.splitlines():
        depth = len(line) - len(line.lstrip())
        if not line.strip():
            expr_lines += [""] if key == "expr" else []
        elif depth < indent:
            break  # the next rule's comment, the next group
        elif depth == indent:
            key, _, value = line.strip().partition(":")
            if key == "expr" and value.strip() not in BLOCK_SCALAR:
                rule.expr = _unquote(value)
            elif key == "for":
                rule.duration = value.strip()
        elif key == "expr":
            expr_lines.append(line.strip())
        elif key in {"labels", "annotations"}:
            name, _, value = line.strip().partition(":")
            getattr(rule, key)[name.strip()] = _unquote(value)
    if expr_lines:
        rule.expr = "\n".join(expr_lines).strip()


@dataclass
class Refs:
    metrics: set[str] = field(default_factory=set)
    labels: set[str] = field(default_factory=set)


def promql_refs(expr: str) -> Refs:
    """Collect the metric names and label names a PromQL expression refers to."""
    assert not re.search(r"\blabel_(?:replace|join)\s*\(", expr), (
        f"label_replace/label_join hide label names from this check; avoid them: {expr}"
    )
    refs = Refs()
    text = re.sub(r"\$__\w+", "5m", expr)  # Grafana interval variables
    text = re.sub(r"\$\{?\w+\}?", "x", text)  # other Grafana variables (inside strings)
    text = re.sub(r'"(?:\\.|[^"\\])*"' + r"|'(?:\\.|[^'\\])*'|`[^`]*`", '""', text)
    text = re.sub(r"\[[^\]]*\]", " ", text)  # range and subquery windows
    for labels in GROUPING.findall(text):
        refs.labels |= {name.strip() for name in labels.split(",") if name.strip()}
    text = GROUPING.sub(" ", text)
    for matchers in re.findall(r"\{([^}]*)\}", text):
        refs.labels |= set(re.findall(r"([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)", matchers))
    text = re.sub(r"\{[^}]*\}", " ", text)
    for token in re.finditer(r"\d+(?:\.\d+)?(?:e[+-]?\d+)?[a-z]*|[A-Za-z_:][\w:]*", text):
        word = token.group(0)
        if word[0].isdigit() or word.lower() in PROMQL_KEYWORDS:
            continue
        if text[token.end() :].lstrip().startswith("("):
            continue  # a function or aggregation
        refs.metrics.add(word)
    return refs


def known_metric(name: str, recorded: set[str]) -> bool:
    """Tell whether a series name is a fleet metric, a histogram part or a recording rule."""
    if name in FLEET_METRICS or name in recorded:
        return True
    base, _, suffix = name.rpartition("_")
    return suffix in {"bucket", "sum", "count"} and FLEET_METRICS.get(base) == "histogram"


def check_refs(where: str, expr: str, recorded: set[str]) -> list[str]:
    """Return the problems of one expression: unknown metrics and labels outside the set."""
    refs = promql_refs(expr)
    allowed = ALLOWED_LABELS | ({"le"} if "histogram_quantile" in expr else set())
    unknown = sorted(m for m in refs.metrics if not known_metric(m, recorded))
    problems = [f"{where}: unknown metric {m!r}" for m in unknown]
    problems += [
        f"{where}: label {n!r} outside the allowed set" for n in sorted(refs.labels - allowed)
    ]
    if not refs.metrics:
        problems.append(f"{where}: no metric found in {expr!r}")
    return problems


def seconds(duration: str) -> int:
    """Convert a Prometheus duration such as 48h, 2h or 10m to seconds."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    parts = re.findall(r"(\d+)([smhd])", duration)
    assert parts and "".join(a + b for a, b in parts) == duration, f"bad duration {duration!r}"
    return sum(int(amount) * units[unit] for amount, unit in parts)


def dashboard() -> dict:
    """Load the Grafana dashboard JSON."""
    return json.loads(DASHBOARD.read_text())


def dashboard_panels(board: dict) -> list[dict]:
    """Return every panel, including those nested in collapsed rows."""
    panels = []
    for panel in board.get("panels", []):
        panels.append(panel)
        panels.extend(panel.get("panels", []))
    return panels


def dashboard_queries(board: dict) -> list[tuple[str, str, str]]:
    """Return (where, expr, legendFormat) for every panel target of the dashboard."""
    return [
        (
            f"panel {panel['title']!r} {target['refId']}",
            target["expr"],
            target.get("legendFormat", ""),
        )
        for panel in dashboard_panels(board)
        for target in panel.get("targets", [])
        if "expr" in target
    ]


def variable_queries(board: dict) -> list[tuple[str, str]]:
    """Return (name, query) for every Prometheus query template variable."""
    out = []
    for var in board["templating"]["list"]:
        if var.get("type") == "query":
            query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
            out.append((var["name"], query))
    return out


# --------------------------------------------------------------------------- promtool


def test_promtool_check_rules() -> None:
    """promtool check rules accepts alerts.yml and counts exactly the rules this test reads."""
    result = run([promtool(), "check", "rules", str(ALERTS)])
    assert result.returncode == 0, result.stdout + result.stderr
    found = re.search(r"SUCCESS: (\d+) rules found", result.stdout)
    assert found, result.stdout
    assert int(found.group(1)) == len(read_rules()), "the line-based reader missed rules"


def test_promtool_test_rules() -> None:
    """promtool test rules passes every threshold test in alerts_test.yml."""
    result = run([promtool(), "test", "rules", str(ALERTS_TEST)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout, result.stdout


def test_promtool_check_config() -> None:
    """The example prometheus.yml is valid and loads alerts.yml."""
    result = run([promtool(), "check", "config", str(PROMETHEUS_CONFIG)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 rule files found" in result.stdout, result.stdout
    config = PROMETHEUS_CONFIG.read_text()  # the fleet's own `job` label must win
    scrape_jobs = re.findall(r"^\s*- job_name:", config, flags=re.M)
    assert len(re.findall(r"^\s*honor_labels: true", config, flags=re.M)) == len(scrape_jobs)


def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    """Every dashboard query parses as PromQL (promtool check rules on a generated rule file)."""
    board = dashboard()
    exprs = [expr for _, expr, _ in dashboard_queries(board)]
    for _, query in variable_queries(board):
        exprs.append(re.sub(r"^label_values\((.*),\s*\w+\)$", r"\1", query.strip(), flags=re.S))
    exprs = [re.sub(r"\$__\w+", "5m", re.sub(r"\$\{?(?!__)\w+\}?", "x", e)) for e in exprs]
    rules = [{"record": f"dashboard:query_{i}:check", "expr": e} for i, e in enumerate(exprs)]
    rule_file = tmp_path / "dashboard_rules.yml"  # JSON is YAML: no YAML library needed
    rule_file.write_text(json.dumps({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = run([promtool(), "check", "rules", "--lint=none", str(rule_file)])
    assert result.returncode == 0, result.stdout + result.stderr


# --------------------------------------------------------------------------- consistency


def test_alert_rules_use_fleet_metrics_and_allowed_labels() -> None:
    """Rules use only fleet metrics or their own recording rules, and only allowed labels."""
    rules = read_rules()
    recorded = {rule.name for rule in rules if rule.kind == "record"}
    problems = []
    for rule in rules:
        assert rule.expr, f"{rule.name}: no expr read"
        problems += check_refs(f"{rule.kind} {rule.name}", rule.expr, recorded)
        problems += [
            f"alert {rule.name}: rule label {key!r} outside the allowed set"
            for key in rule.labels
            if key not in ALLOWED_LABELS | {"severity"}
        ]
    for name in recorded:
        level, metric, operation = name.split(":")
        assert level and metric.startswith("sheen_") and operation, f"{name!r}: not level:metric:op"
    assert not problems, "\n".join(problems)


def test_alerts_have_severity_annotations_and_runbook() -> None:
    """Every alert has severity warning or page, a summary, a description and a how-to runbook."""
    alerts = [rule for rule in read_rules() if rule.kind == "alert"]
    assert alerts
    for alert in alerts:
        assert alert.labels.get("severity") in SEVERITIES, f"{alert.name}: {alert.labels}"
        assert alert.annotations.get("summary"), f"{alert.name}: no summary"
        assert alert.annotations.get("description"), f"{alert.name}: no description"
        runbook = alert.annotations.get("runbook_url", "")
        assert re.fullmatch(r"docs/how-to/[a-z0-9-]+\.md", runbook), f"{alert.name}: {runbook!r}"
    # Two-level alerts share one alertname so Alertmanager's page-inhibits-warning rule applies.
    levels: dict[str, set[str]] = {}
    for alert in alerts:
        levels.setdefault(alert.name, set()).add(alert.labels["severity"])
    for name in (
        "SheenJobFailureRateHigh",
        "SheenQueueLatencyHigh",
        "SheenDependencyErrorRateHigh",
    ):
        assert levels.get(name) == SEVERITIES, f"{name}: want a warning and a page rule"


def test_scheduled_jobs_have_dead_man_rules() -> None:
    """Each scheduled job (ours and beat_schedule.JOBS) has dead-man rules at twice its period."""
    rules = read_rules()
    missed = [rule for rule in rules if rule.name == "SheenScheduledJobMissed"]
    assert len(missed) == 1
    thresholds: dict[str, int] = {}
    branches = re.findall(r'job=~"([^"]+)"\}.*?>\s*2\s*\*\s*(\d+)', missed[0].expr, flags=re.S)
    for jobs, period in branches:
        for job in jobs.replace("\\\\.", ".").split("|"):
            thresholds[job] = int(period)
    never = {
        rule.labels["job"]: seconds(rule.duration)
        for rule in rules
        if rule.name == "SheenScheduledJobNeverSucceeded"
    }
    assert thresholds == SCHEDULED_PERIODS
    assert never == {job: 2 * period for job, period in SCHEDULED_PERIODS.items()}
    for job in beat_schedule.JOBS:
        assert thresholds.get(job.name) == job.period_seconds, f"{job.name}: period mismatch"


def test_dashboard_structure() -> None:
    """The dashboard parses and has the datasource, environment, region variables and panels."""
    board = dashboard()
    assert 36 <= board["schemaVersion"] <= 41
    variables = {var["name"]: var for var in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert {"environment", "region"} <= set(variables)
    titles = {panel["title"] for panel in dashboard_panels(board)}
    expected = {
        "Runs/s by job and status", "Success % by job", "P95 duration by job", "Retries by job",
        "Dead letters by job", "Queue depth by queue", "Queue wait P95 by queue",
        "External requests error rate", "Time since last success",
    }  # fmt: skip
    assert expected <= titles, f"missing panels: {expected - titles}"
    for panel in dashboard_panels(board):
        if panel.get("type") != "row":
            assert panel["datasource"] == DATASOURCE, panel["title"]
            for target in panel["targets"]:
                assert {"$environment", "$region"} <= set(re.findall(r"\$\w+", target["expr"]))
    ids = [panel["id"] for panel in dashboard_panels(board)]
    assert len(ids) == len(set(ids)), "duplicate panel ids"


def test_dashboard_uses_fleet_metrics_and_allowed_labels() -> None:
    """Dashboard queries and legends use only fleet metrics and only allowed labels."""
    board = dashboard()
    recorded = {rule.name for rule in read_rules() if rule.kind == "record"}
    problems = []
    for where, expr, legend in dashboard_queries(board):
        problems += check_refs(where, expr, recorded)
        for name in re.findall(r"\{\{\s*(\w+)\s*\}\}", legend):
            if name not in ALLOWED_LABELS:
                problems.append(f"{where}: legend label {name!r} outside the allowed set")
    for name, query in variable_queries(board):
        found = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", query.strip(), flags=re.S)
        assert found, f"variable {name}: unsupported query {query!r}"
        problems += check_refs(f"variable {name}", found.group(1), recorded)
        if found.group(2) not in ALLOWED_LABELS:
            problems.append(f"variable {name}: label {found.group(2)!r} outside the allowed set")
    assert not problems, "\n".join(problems)


def test_promql_reader_catches_unknown_names() -> None:
    """The metric/label reader flags unknown metrics and labels, so the checks above can fail."""
    problems = check_refs(
        "sample",
        'sum by (instance) (rate(sheen_jobs_total{pod="x"}[5m])) / on (job) sheen_job_runs_total',
        set(),
    )
    assert any("'sheen_jobs_total'" in p for p in problems)
    assert any("'instance'" in p for p in problems)
    assert any("'pod'" in p for p in problems)
    assert not any("sheen_job_runs_total" in p for p in problems)
    quantile = "histogram_quantile(0.9, sum by (le) (rate(sheen_queue_wait_seconds_bucket[5m])))"
    assert check_refs("ok", quantile, set()) == []


# --------------------------------------------------------------------------- alertmanager


def amtool() -> str:
    """Return the amtool path, failing the test with the fix when it is missing."""
    found = shutil.which("amtool")
    if not found:
        pytest.fail(
            "amtool not found on PATH: run `make tools` (scripts/install-amtool.sh installs "
            "Debian's `prometheus-alertmanager` package)",
            pytrace=False,
        )
    return found


def test_alertmanager_config_is_valid() -> None:
    """amtool check-config accepts the example Alertmanager configuration."""
    result = run([amtool(), "check-config", str(ALERTMANAGER_CONFIG)])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (["severity=page", "environment=production"], "pager"),
        (["severity=warning", "environment=production"], "warning"),
        # A staging page reaches the pager only through its promotion route, which is
        # muted until the rule's promotion day (tests/unit/test_alert_promotion.py).
        (["severity=page", "environment=staging"], "pager,warning"),
        (["severity=warning", "environment=staging"], "warning"),
        (["severity=page", "environment=development"], "blackhole"),
        (["severity=page", "environment=ci"], "blackhole"),
        (["environment=production"], "warning"),
    ],
)
def test_alertmanager_routes(labels: list[str], receiver: str) -> None:
    """Each alert reaches its receiver: staging pages always warn and page only via promotion."""
    result = run(
        [
            amtool(), "config", "routes", "test", f"--config.file={ALERTMANAGER_CONFIG}",
            f"--verify.receivers={receiver}", "alertname=SheenJobFailureRateHigh", *labels,
        ]
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == receiver
