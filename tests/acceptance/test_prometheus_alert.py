"""A real Prometheus scrapes a worker and sees the failure-rate alert after fleet.test_alert fails.

The rules are deploy/prometheus/alerts.yml with every `for:` shortened to 2s; scrape and
evaluation run every second. `honor_labels: true` keeps the fleet's own `job` label.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from sheen.embedded import free_port, port_open
from tests.acceptance.metrics_support import total, wait_for

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
ALERT = "SheenJobFailureRateHigh"


def prometheus_binary() -> str:
    found = shutil.which("prometheus") or (
        "/usr/bin/prometheus" if Path("/usr/bin/prometheus").exists() else None
    )
    if not found:
        pytest.fail("prometheus not found: run `make tools` (scripts/install-promtool.sh)")
    return found


def short_rules(tmp_path: Path) -> Path:
    """alerts.yml with every `for:` at 2s, so pending/firing shows within seconds."""
    rules = re.sub(r"^(\s*)for: \S+$", r"\1for: 2s", ALERTS.read_text(), flags=re.M)
    path = tmp_path / "rules.yml"
    path.write_text(rules)
    return path


def start_prometheus(tmp_path: Path, target_port: int) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        json.dumps(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(short_rules(tmp_path))],
                "scrape_configs": [
                    {
                        "job_name": "sheen-workers",
                        "honor_labels": True,
                        "static_configs": [{"targets": [f"127.0.0.1:{target_port}"]}],
                    }
                ],
            }
        )
    )
    log = (tmp_path / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [
            prometheus_binary(), f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while not port_open(port):
        assert proc.poll() is None, (tmp_path / "prometheus.log").read_text()[-2000:]
        assert time.monotonic() < deadline, "prometheus did not start"
        time.sleep(0.1)
    return proc, port


def api(port: int, path: str) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
        return json.loads(response.read())


def fire(celery_app, count: int) -> None:
    results = [
        celery_app.send_task("fleet.test_alert", kwargs={"mode": "fail", "nonce": uuid.uuid4().hex})
        for _ in range(count)
    ]
    for result in results:
        result.get(timeout=60, propagate=False)


@pytest.mark.slow
def test_live_prometheus_sees_the_failure_rate_alert(start_worker, celery_app, db, tmp_path):
    """fleet.test_alert failing 20 times makes SheenJobFailureRateHigh pending or firing."""
    # Given a worker with its scrape endpoint and Prometheus scraping it every second
    metrics_port = free_port()
    start_worker(concurrency=2, SHEEN_METRICS_PORT=str(metrics_port))
    prometheus, port = start_prometheus(tmp_path, metrics_port)
    try:
        # a first failure, so the counter exists before the burst (rate needs a base sample)
        fire(celery_app, 1)
        wait_for(
            metrics_port, lambda s: total(s, "sheen_job_runs_total", job="fleet.test_alert") >= 1
        )
        deadline = time.monotonic() + 30
        while not api(port, '/api/v1/query?query=sheen_job_runs_total{job="fleet.test_alert"}')[
            "data"
        ]["result"]:
            assert time.monotonic() < deadline, "Prometheus never scraped the counter"
            time.sleep(0.5)
        # When the test alert fails 20 more times
        fire(celery_app, 20)
        # Then the failure-rate alert for fleet.test_alert goes pending or firing
        deadline = time.monotonic() + 60
        seen: list[dict] = []
        while time.monotonic() < deadline:
            seen = [
                a for a in api(port, "/api/v1/alerts")["data"]["alerts"]
                if a["labels"].get("alertname") == ALERT
                and a["labels"].get("job") == "fleet.test_alert"
            ]  # fmt: skip
            if seen:
                break
            time.sleep(0.5)
        assert seen, (tmp_path / "prometheus.log").read_text()[-2000:]
        assert {a["state"] for a in seen} <= {"pending", "firing"}
        assert {a["labels"]["environment"] for a in seen} == {"ci"}
    finally:
        prometheus.terminate()
        prometheus.wait(20)
