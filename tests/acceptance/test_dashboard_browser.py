"""Headless Chromium renders the dashboard: the region cards and the degraded banner are in the DOM."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest
import redis
from werkzeug.serving import make_server

from sheen.services.server_health import STATE_KEY
from tests.integration.test_sidecar import seed_runs
from tests.sidecar_support import clean_broker, make_app, sidecar_settings

CARDS = ("queue-depth", "dequeue-p95", "start-latency-p95", "runtime-p95", "success-rate")


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.fail("chromium not found: run scripts/install-chromium.sh (Debian package chromium)")
    return found


@pytest.fixture
def dashboard_url(db, services, celery_app) -> Iterator[str]:
    """A real HTTP sidecar on loopback with auth turned off (development setting)."""
    settings = sidecar_settings(
        sidecar_auth_disabled=True,
        slo_queue_depth_max=0,
        slo_ai_capacity_min=0.5,
        slo_window_seconds=60,
    )
    clean_broker(services)
    seed_runs(db, 40)
    state = redis.Redis.from_url(services.redis_url)
    # Two SLOs violated (AI capacity, queue depth) for longer than the window: degraded.
    state.set(settings.slo_ai_capacity_key, "0.1")
    state.set(
        STATE_KEY.format(server_id=settings.server_key),
        json.dumps({"since": time.time() - 3600, "confirmed_at": time.time()}),
        ex=60,
    )
    with celery_app.connection_for_write() as conn:
        conn.default_channel.client.rpush("jobs", "waiting")
    server = make_server("127.0.0.1", 0, make_app(settings), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()


def test_chromium_renders_cards_and_degraded_banner(dashboard_url, tmp_path):
    """The rendered DOM has every region card and a degraded banner naming the violations."""
    result = subprocess.run(
        [
            chromium(), "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=3000", "--dump-dom", dashboard_url,
        ],
        capture_output=True, text=True, timeout=90, check=False,
    )  # fmt: skip
    dom = result.stdout
    assert "<html" in dom, result.stderr[-2000:]
    assert 'id="degraded-banner"' in dom
    assert 'data-degraded="true"' in dom
    assert "ai_provider_capacity" in dom and "queue_depth" in dom
    for card in CARDS:
        assert f'data-card="{card}"' in dom, card
    assert 'data-region="local"' in dom
    assert 'id="dead-letters"' in dom
