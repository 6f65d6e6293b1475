"""`sheen-ops dashboard` prints a login URL the sidecar accepts once; `sheen-ops dev seed`
fills the database with demo data the scheduled jobs then act on."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import text

from tests.sidecar_support import SECRET, clean_broker, make_app, sidecar_settings

ROOT = Path(__file__).resolve().parents[2]
SHEEN_OPS = str(Path(sys.executable).with_name("sheen-ops"))


def sheen_ops(env, *argv, timeout=90):
    return subprocess.run(
        [SHEEN_OPS, *argv], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def test_dashboard_command_prints_a_one_time_login_url(services, db, celery_app):
    """Given HS256 keys, `sheen-ops dashboard --write` prints a URL that logs a browser in
    once, with admin:write, for the session's --ttl."""
    # Given
    clean_broker(services)
    env = services.env(SHEEN_JWT_ALGORITHMS="HS256", SHEEN_JWT_SECRET=SECRET)
    # When
    proc = sheen_ops(env, "dashboard", "--write", "--ttl", "20m", "--url", "http://sidecar.test/")
    # Then
    assert proc.returncode == 0, proc.stderr
    url = proc.stdout.strip()
    assert url.startswith("http://sidecar.test/login?token=")
    parts = urlsplit(url)
    client = make_app(sidecar_settings(sidecar_session_secret="c" * 40)).test_client()
    first = client.get(f"{parts.path}?{parts.query}")
    assert first.status_code == 303, first.get_data(as_text=True)
    page = client.get("/").get_data(as_text=True)
    assert 'id="test-alert-form"' in page  # admin:write reached the session
    again = make_app(sidecar_settings(sidecar_session_secret="c" * 40)).test_client()
    assert again.get(f"{parts.path}?{parts.query}").status_code == 401


def test_dev_seed_fills_the_database_and_jobs_find_work(services, db, start_worker, celery_app):
    """Given an empty database, `dev seed --users 60` twice yields the same demo rows, and
    the daily reset, ghost detection and cleanup jobs each act on them."""
    # Given / When
    first = sheen_ops(services.env(), "dev", "seed", "--users", "60", "--json")
    second = sheen_ops(services.env(), "dev", "seed", "--users", "60", "--json")
    # Then
    assert first.returncode == 0, first.stderr
    counts = json.loads(first.stdout)
    assert counts == json.loads(second.stdout)
    assert counts == {
        "users": 60, "balances": 60, "live_builds": 40, "silent_builds": 20,
        "old_artifacts": 48,
    }  # fmt: skip
    # When the jobs run on a real worker
    start_worker(concurrency=1)
    results = {
        name: celery_app.send_task(name, kwargs={}).get(timeout=60)
        for name in ("jobs.daily_reset", "jobs.ghost_build_detection", "jobs.cleanup_artifacts")
    }
    # Then each did something visible
    with db.connect() as conn:
        used = conn.execute(text("SELECT sum(daily_used_seconds) FROM ai_time_balances")).scalar()
        failed = conn.execute(text("SELECT count(*) FROM builds WHERE status = 'failed'")).scalar()
        soft = conn.execute(
            text("SELECT count(*) FROM build_artifacts WHERE soft_deleted_at IS NOT NULL")
        ).scalar()
    assert used == 0, results["jobs.daily_reset"]
    assert failed == 20, results["jobs.ghost_build_detection"]
    assert soft == 18, results["jobs.cleanup_artifacts"]  # 6 projects x (8 - keep 5)


def test_dev_seed_is_refused_outside_development(services, db):
    """Given SHEEN_ENV=staging, `dev seed` refuses with exit 2 and writes nothing."""
    # Given / When
    proc = sheen_ops(services.env(SHEEN_ENV="staging"), "dev", "seed", "--users", "5")
    # Then
    assert proc.returncode == 2
    with db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM auth.users")).scalar() == 0


def test_sidecar_access_log_keeps_login_tokens_and_addresses_out(services, db, tmp_path):
    """Given the gunicorn sidecar, a /login?token=... request is logged without its query
    string and without the client address."""
    import time
    import urllib.error
    import urllib.request

    from sheen.embedded import free_port

    # Given
    port = free_port()
    log = tmp_path / "sidecar.log"
    env = services.env(
        SHEEN_JWT_ALGORITHMS="HS256", SHEEN_JWT_SECRET=SECRET, SHEEN_SIDECAR_PORT=str(port)
    )
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [SHEEN_OPS, "sidecar", "--workers", "1"], cwd=ROOT, env=env, stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        # When
        try:
            urllib.request.urlopen(
                f"http://127.0.0.1:{port}/login?token=not.a-real.token-value", timeout=5
            )
        except urllib.error.HTTPError as exc:
            assert exc.code == 401
        time.sleep(0.5)
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    # Then
    text_log = log.read_text()
    assert '"GET /login HTTP/1.1" 401' in text_log, text_log[-2000:]
    assert "not.a-real.token-value" not in text_log
    assert "127.0.0.1 " not in text_log.split("Listening at")[-1]
