"""Headless Chromium renders the dashboard: the region cards and the degraded banner are in the
DOM; a browser logs in through the one-time login URL and sees the trend charts."""

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

import pytest
import redis
from werkzeug.serving import make_server

from sheen.services.server_health import STATE_KEY
from sheen.services.trends import record_queue_depths
from tests.integration.test_sidecar import seed_runs
from tests.sidecar_support import clean_broker, make_app, sidecar_settings, token

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


def dump_dom(url: str, profile) -> str:
    result = subprocess.run(
        [
            chromium(), "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--no-first-run", f"--user-data-dir={profile}",
            "--virtual-time-budget=3000", "--dump-dom", url,
        ],
        capture_output=True, text=True, timeout=90, check=False,
    )  # fmt: skip
    assert "<html" in result.stdout, result.stderr[-2000:]
    return result.stdout


@pytest.fixture
def login_server(db, services, celery_app) -> Iterator[tuple[str, object]]:
    """A real HTTP sidecar with token auth on, a session secret, runs and queue samples."""
    settings = sidecar_settings(sidecar_session_secret="browser-session-secret-" + "z" * 20)
    clean_broker(services)
    seed_runs(db, 40)
    state = redis.Redis.from_url(services.redis_url)
    state.delete(f"ops:queue-depth:{settings.server_key}")
    now = datetime.now(UTC)
    for minutes, depth in ((30, 3), (20, 7), (10, 2)):
        record_queue_depths(
            state, settings, lambda d=depth: {"jobs": d}, now - timedelta(minutes=minutes)
        )
    server = make_server("127.0.0.1", 0, make_app(settings), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", settings
    server.shutdown()


def test_chromium_logs_in_through_the_login_url_and_sees_the_charts(login_server, tmp_path):
    """Given a one-time login URL, Chromium lands on the dashboard with inline SVG trends whose
    numbers match /api/trends; the same URL a second time is refused."""
    # Given
    base, settings = login_server
    value = token(settings, "admin:read", ttl="10m")
    url = f"{base}/login?token={value}"
    # When
    dom = dump_dom(url, tmp_path / "profile")
    # Then: logged in (the page, not the login-needed message), charts drawn server-side
    assert 'id="degraded-banner"' in dom, dom[:2000]
    assert 'data-chart="jobs.daily_reset:hourly"' in dom
    assert 'data-chart="jobs.daily_reset:daily"' in dom
    assert 'data-chart="queue:jobs"' in dom
    assert "<script" not in dom  # no JavaScript, no CDN
    hourly = dom[dom.index('data-chart="jobs.daily_reset:hourly"') :]
    hourly = hourly[: hourly.index("</svg>")]
    bars = [int(n) for n in re.findall(r'data-runs="(\d+)"', hourly)]
    failures = [int(n) for n in re.findall(r'data-failures="(\d+)"', hourly)]
    request = urllib.request.Request(  # noqa: S310 (http on a loopback test server)
        f"{base}/api/trends", headers={"Authorization": f"Bearer {token(settings, 'admin:read')}"}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
        api = json.loads(answer.read())
    expected = next(j for j in api["jobs"] if j["job"] == "jobs.daily_reset")["hourly"]
    assert bars == [b["runs"] for b in expected] and len(bars) == 24
    assert failures == [b["failures"] for b in expected]
    assert sum(bars) == 20  # seed_runs(40): every other run is jobs.daily_reset
    depths = [int(n) for n in re.findall(r'data-depth="(\d+)"', dom)]
    assert depths == [3, 7, 2]
    # When the same login URL is opened again (another browser profile)
    again = dump_dom(url, tmp_path / "profile2")
    # Then it is refused
    assert "already used" in again and 'id="degraded-banner"' not in again
