"""The "Analytics flood (label cardinality)" runbook on a real Prometheus: its queries find
the flooding metric and label, its scrape-time drop stops the flood, and removing it rolls back."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from sheen.embedded import free_port

ROOT = Path(__file__).resolve().parents[2]
RUNBOOK = ROOT / "docs" / "how-to" / "analytics-flood.md"
SERIES = 60


def runbook_blocks(kind: str) -> list[str]:
    return re.findall(rf"```{kind}\n(.*?)```", RUNBOOK.read_text(), flags=re.S)


def exporter() -> tuple[ThreadingHTTPServer, str]:
    """Metrics whose trace_id label takes a new value per series, plus one healthy metric."""
    lines = ["# TYPE sheen_analytics_events_total counter"]
    lines += [
        f'sheen_analytics_events_total{{service="sheen-worker",trace_id="t{i:04d}"}} {i}'
        for i in range(SERIES)
    ]
    lines += ["# TYPE sheen_queue_depth gauge", 'sheen_queue_depth{queue="jobs"} 3']
    body = ("\n".join(lines) + "\n").encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"127.0.0.1:{server.server_port}"


class Prometheus:
    def __init__(self, tmp: Path, target: str) -> None:
        self.tmp, self.target = tmp, target
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = tmp / "prometheus.yml"
        self.write(relabel=None)
        binary = shutil.which("prometheus")
        if not binary:
            pytest.fail("prometheus not found: run `make tools` (scripts/install-promtool.sh)")
        self.proc = subprocess.Popen(
            [binary, f"--config.file={self.config}", f"--storage.tsdb.path={tmp / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--web.enable-lifecycle"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self.wait(lambda: self.query("up") is not None)

    def write(self, relabel: list | None) -> None:
        job = {"job_name": "flood", "scrape_interval": "1s", "honor_labels": True,
               "static_configs": [{"targets": [self.target]}]}  # fmt: skip
        if relabel:
            job["metric_relabel_configs"] = relabel
        self.config.write_text(yaml.safe_dump({"scrape_configs": [job]}))

    def reload(self) -> None:
        request = urllib.request.Request(f"{self.url}/-/reload", method="POST")  # noqa: S310
        with urllib.request.urlopen(request, timeout=5):  # noqa: S310
            pass

    def query(self, promql: str) -> list | None:
        url = f"{self.url}/api/v1/query?query={urllib.parse.quote(promql)}"
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310
                return json.loads(answer.read())["data"]["result"]
        except OSError:
            return None

    def value(self, promql: str) -> float:
        result = self.query(promql) or []
        return float(result[0]["value"][1]) if result else 0.0

    def wait(self, ok, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ok():
                return
            time.sleep(0.3)
        raise AssertionError("Prometheus did not get there in time")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=15)


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[Prometheus]:
    server, target = exporter()
    prom = Prometheus(tmp_path, target)
    yield prom
    prom.stop()
    server.shutdown()


def test_runbook_finds_drops_and_rolls_back_the_flood(prometheus: Prometheus) -> None:
    """Given a target flooding one metric with trace_id values, the runbook's queries name
    the metric and the label, its relabel block stops new series, and removing it rolls back."""
    # Given a flood scraped for a few seconds
    prometheus.wait(lambda: prometheus.value("count(sheen_analytics_events_total)") == SERIES)
    top, per_label, after = runbook_blocks("promql")
    # When the operator runs step 1's queries
    worst = prometheus.query(top.strip())
    labels = prometheus.value(per_label.strip())
    instances = prometheus.query("count by (instance) (sheen_analytics_events_total)")
    # Then the flooding metric is first and trace_id has one value per series
    assert worst and worst[0]["metric"]["__name__"] == "sheen_analytics_events_total"
    assert labels == SERIES
    assert instances and instances[0]["metric"]["instance"] == prometheus.target
    # When step 2's block goes into the scrape job and Prometheus reloads
    (relabel_block,) = runbook_blocks("yaml")
    relabel = yaml.safe_load(relabel_block)["metric_relabel_configs"]
    prometheus.write(relabel)
    check = subprocess.run(
        [shutil.which("promtool") or "promtool", "check", "config", str(prometheus.config)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr
    prometheus.reload()
    # Then no new flooding samples arrive, and the healthy metric still does
    prometheus.wait(lambda: prometheus.query("sheen_analytics_events_total") == [])
    assert prometheus.value("count(sheen_queue_depth)") == 1
    # When step 4 removes the block again
    prometheus.write(None)
    prometheus.reload()
    # Then step 4's check query sees the metric back
    prometheus.wait(lambda: prometheus.value(after.strip()) == SERIES)
