"""A real Alertmanager with the generated promotion routes: a staging page of a rule past
its promotion day reaches the pager and the warning channel; one shipped today only warns."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from sheen import alert_promotion as promotion
from sheen.embedded import free_port


class Hooks:
    """A local webhook receiver: which alertnames each receiver path was sent."""

    def __init__(self) -> None:
        self.seen: dict[str, set[str]] = {}
        hooks = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                names = {a["labels"]["alertname"] for a in body["alerts"]}
                hooks.seen.setdefault(self.path.rsplit("/", 1)[-1], set()).update(names)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[tuple[str, Hooks]]:
    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if not binary:
        pytest.fail("alertmanager not found: run `make tools` (scripts/install-amtool.sh)")
    hooks = Hooks()
    today = datetime.now(UTC).date()
    registry = tmp_path / "promotion.yml"
    registry.write_text(
        "promote_after_days: 7\nshipped:\n"
        f"  SheenOld: {today - timedelta(days=30)}\n  SheenNew: {today}\n"
    )
    text = promotion.generated_config(registry=registry)
    text = text.replace("http://127.0.0.1:9095", hooks.url)
    text = re.sub(r"group_wait: \d+s", "group_wait: 1s", text)
    text = re.sub(r"group_interval: \d+m", "group_interval: 1s", text)
    config = tmp_path / "alertmanager.yml"
    config.write_text(text)
    port = free_port()
    proc = subprocess.Popen(
        [binary, f"--config.file={config}", f"--storage.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url}/-/ready", timeout=1)  # noqa: S310
            break
        except OSError:
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail(f"alertmanager did not start: {proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
    yield url, hooks
    proc.terminate()
    proc.wait(timeout=10)
    hooks.server.shutdown()


def post_alerts(url: str, *names: str) -> None:
    alerts = [
        {"labels": {"alertname": n, "severity": "page", "environment": "staging",
                    "service": "sheen-worker", "region": "eu-west-1"}}
        for n in names
    ]  # fmt: skip
    request = urllib.request.Request(  # noqa: S310
        f"{url}/api/v2/alerts", data=json.dumps(alerts).encode(), method="POST",
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=5):  # noqa: S310
        pass


def test_staging_pages_only_after_the_promotion_day(alertmanager):
    """Given two staging pages, one of a rule shipped 30 days ago and one shipped today,
    both reach the warning receiver and only the old one reaches the pager."""
    # Given
    url, hooks = alertmanager
    # When
    post_alerts(url, "SheenOld", "SheenNew")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and hooks.seen.get("warning") != {"SheenOld", "SheenNew"}:
        time.sleep(0.2)
    time.sleep(3)  # a muted route would have notified by now (group_wait 1 s)
    # Then
    assert hooks.seen.get("warning") == {"SheenOld", "SheenNew"}, hooks.seen
    assert hooks.seen.get("pager") == {"SheenOld"}, hooks.seen
