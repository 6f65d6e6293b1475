"""The verifier against a real local HTTP server and the test PostgreSQL: rows, policy, refusals."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import text

from sheen.metrics import EXTERNAL_REQUESTS, MIGRATION_VERIFICATIONS
from sheen.verification import VerificationRequest, verify
from sheen.verification.fetcher import USER_AGENT
from tests.verification_support import (
    COMMIT,
    DOMAIN,
    Signer,
    SiteBehaviour,
    edit_manifest,
    make_tree,
    manifest_for,
    serve,
    settings_for,
)


def run(db, settings, manifest: bytes, signature: bytes | None, env: str = "ci"):
    request = VerificationRequest(manifest, signature, env, uuid.uuid4())
    return verify(db, settings, request, db.begin)


def rows(db, sql: str, **params):
    with db.connect() as conn:
        return [dict(r) for r in conn.execute(text(sql), params).mappings()]


def counter(metric, **labels) -> float:
    total = 0.0
    for family in metric.collect():
        for sample in family.samples:
            if sample.name.endswith("_total") and all(
                sample.labels.get(k) == v for k, v in labels.items()
            ):
                total += sample.value
    return total


@pytest.fixture
def site(tmp_path: Path):
    return make_tree(tmp_path / "site", count=6)


def test_all_files_match_records_a_verified_release(db, site):
    """Every file and the schema match: success, exit 0, one row per file, a release row."""
    # Given a site serving exactly the built files and a manifest signed with a configured key
    signer = Signer()
    settings = settings_for(signer)
    http_before = counter(EXTERNAL_REQUESTS, dependency="http", status="success")
    with serve(site) as (base, behaviour):
        manifest = manifest_for(site, base)
        # When the manifest is verified in ci
        report = run(db, settings, manifest, signer.sign(manifest))
    # Then everything matched and the release is recorded with the run
    assert (report.result, report.exit_code, report.files_matched) == ("success", 0, 6)
    results = rows(db, "SELECT kind, status FROM migration_verification_results")
    assert sorted((r["kind"], r["status"]) for r in results) == [("file", "success")] * 6 + [
        ("schema", "success")
    ]
    releases = rows(
        db,
        "SELECT domain, environment::text AS env, commit_sha, manifest_version, run_id FROM verified_releases",
    )
    assert releases == [
        {
            "domain": DOMAIN,
            "env": "ci",
            "commit_sha": COMMIT,
            "manifest_version": 10,
            "run_id": report.run_id,
        }
    ]
    assert counter(EXTERNAL_REQUESTS, dependency="http", status="success") == http_before + 6
    # and the fetcher sent its fixed User-Agent
    assert {r["User-Agent"] for r in behaviour.requests} == {USER_AGENT}


def test_one_changed_byte_is_a_mismatch_row_and_ci_exit_1(db, site):
    """One byte changed on the site: a hash_mismatch row names the file, ci exits 1, no release."""
    # Given a manifest of the built files and a site serving one file with a byte flipped
    signer = Signer()
    changed = "pages/file00000.txt"
    body = bytearray((site / changed).read_bytes())
    body[10] ^= 1
    with serve(site, SiteBehaviour(override={changed: bytes(body)})) as (base, _):
        manifest = manifest_for(site, base)
        # When it is verified in ci
        report = run(db, settings_for(signer), manifest, signer.sign(manifest))
    # Then the run failed on that file only, exit 1, and no release is recorded
    assert (report.result, report.reason, report.exit_code) == ("failure", "hash_mismatch", 1)
    failed = rows(
        db,
        "SELECT path, reason, error FROM migration_verification_results WHERE status <> 'success'",
    )
    assert [(r["path"], r["reason"]) for r in failed] == [(changed, "hash_mismatch")]
    assert rows(db, "SELECT * FROM verified_releases") == []
    run_row = rows(db, "SELECT result, files_failed, commit_sha FROM migration_verification_runs")
    assert run_row == [{"result": "failure", "files_failed": 1, "commit_sha": COMMIT}]


def test_production_reports_a_mismatch_and_exits_0(db, site):
    """Production reports only: the mismatch is recorded and counted, the exit status is 0."""
    # Given a site serving a changed file and a production manifest
    signer = Signer()
    before = counter(MIGRATION_VERIFICATIONS, status="failure")
    with serve(site, SiteBehaviour(override={"assets/file00001.txt": b"other"})) as (base, _):
        manifest = manifest_for(site, base, environment="production")
        # When it is verified in production
        report = run(db, settings_for(signer), manifest, signer.sign(manifest), env="production")
    # Then nothing is blocked (exit 0) but the failure is in the table and the metric
    assert (report.result, report.exit_code) == ("failure", 0)
    assert report.failures[0]["path"] == "assets/file00001.txt"
    assert counter(MIGRATION_VERIFICATIONS, status="failure") == before + 1


@pytest.mark.slow
def test_a_file_taking_11_seconds_is_a_timeout_row(db, site):
    """A file that takes 11 s to answer fails as a timeout after the 10 s deadline; ci exits 1."""
    # Given a site where one file answers only after 11 s
    signer = Signer()
    slow = "pages/file00002.txt"
    with serve(site, SiteBehaviour(delay={slow: 11})) as (base, _):
        manifest = manifest_for(site, base)
        # When it is verified with the default 10 s deadline
        report = run(db, settings_for(signer), manifest, signer.sign(manifest))
    # Then that file has a timeout row after about 10 s, and the run fails closed
    [row] = rows(
        db,
        "SELECT path, reason, duration_seconds FROM migration_verification_results WHERE status <> 'success'",
    )
    assert (row["path"], row["reason"]) == (slow, "timeout")
    assert 9.5 <= row["duration_seconds"] < 11
    assert report.exit_code == 1


def test_the_deadline_is_total_not_per_read(db, site):
    """A server trickling one byte every 50 ms never idles past a read timeout, yet the total deadline stops it."""
    # Given a 1 KiB file dripped byte by byte (about 50 s in total) and a 1 s deadline
    signer = Signer()
    drip = "assets/file00003.txt"
    with serve(site, SiteBehaviour(drip={drip: 0.05})) as (base, _):
        manifest = manifest_for(site, base)
        settings = settings_for(signer, verification_fetch_timeout_seconds=1.0)
        # When it is verified
        report = run(db, settings, manifest, signer.sign(manifest))
    # Then the file is a timeout after about 1 s, not after the whole drip
    [row] = rows(
        db,
        "SELECT path, reason, duration_seconds FROM migration_verification_results WHERE status <> 'success'",
    )
    assert (row["path"], row["reason"]) == (drip, "timeout")
    assert row["duration_seconds"] < 2.5
    assert report.exit_code == 1


def test_redirects_to_another_host_are_refused_same_host_followed(db, site):
    """A redirect to another host is a failure row; a redirect on the same origin is followed."""
    signer = Signer()
    with serve(site) as (other, _):
        other_host = other.replace("127.0.0.1", "localhost")
        behaviour = SiteBehaviour()
        with serve(site, behaviour) as (base, _):
            manifest = manifest_for(site, base)
            # Given one file redirected to another host and one redirected on the same origin
            behaviour.redirect["pages/file00000.txt"] = other_host + "pages/file00000.txt"
            behaviour.redirect["pages/file00002.txt"] = "/moved/file00002.txt"
            behaviour.override["moved/file00002.txt"] = (site / "pages/file00002.txt").read_bytes()
            # When verified
            report = run(db, settings_for(signer), manifest, signer.sign(manifest))
    # Then only the cross-host one failed, with its reason
    failed = rows(
        db,
        "SELECT path, reason, http_status FROM migration_verification_results WHERE status <> 'success'",
    )
    assert failed == [
        {"path": "pages/file00000.txt", "reason": "redirect_other_host", "http_status": 302}
    ]
    assert report.files_matched == 5


def test_a_file_larger_than_its_manifest_size_stops_at_the_cap(db, site):
    """A body larger than the manifest's size is refused without reading it all (too_large)."""
    # Given a site serving 1 MiB where the manifest says 1 KiB
    signer = Signer()
    big = "assets/file00005.txt"
    with serve(site, SiteBehaviour(override={big: b"x" * (1024 * 1024)})) as (base, _):
        manifest = manifest_for(site, base)
        report = run(db, settings_for(signer), manifest, signer.sign(manifest))
    [row] = rows(
        db,
        "SELECT path, reason, actual_size FROM migration_verification_results WHERE status <> 'success'",
    )
    assert (row["path"], row["reason"]) == (big, "too_large")
    assert report.exit_code == 1


def test_no_cookie_is_stored_or_sent(db, site):
    """A site that sets a cookie on every answer never gets one back."""
    signer = Signer()
    with serve(site, SiteBehaviour(set_cookie=True)) as (base, behaviour):
        manifest = manifest_for(site, base)
        settings = settings_for(signer, verification_concurrency=1)
        report = run(db, settings, manifest, signer.sign(manifest))
    assert report.result == "success"
    assert len(behaviour.requests) == 6
    assert not any("Cookie" in r for r in behaviour.requests)


@pytest.mark.parametrize(
    "case, reason",
    [
        ("tampered", "bad_signature"),
        ("wrong_key", "unknown_key_id"),
        ("missing", "missing_signature"),
        ("expired", "expired"),
        ("non_canonical", "non_canonical"),
        ("oversized", "oversized_manifest"),
        ("wrong_env", "wrong_environment"),
    ],
)
def test_refused_manifests_are_recorded_with_their_reason(db, site, case, reason):
    """Each way a manifest cannot be trusted is a refused run with its own reason; nothing is fetched."""
    # Given a configured key and a manifest spoiled in one way
    signer, stranger = Signer(), Signer()
    settings = settings_for(signer)
    with serve(site) as (base, behaviour):
        manifest = manifest_for(site, base)
        signature: bytes | None = signer.sign(manifest)
        if case == "tampered":
            manifest = manifest.replace(b'"version":10', b'"version":11')
        elif case == "wrong_key":
            signature = stranger.sign(manifest)
        elif case == "missing":
            signature = None
        elif case == "expired":
            manifest = edit_manifest(manifest, expires_at="2020-01-01T00:00:00Z")
            signature = signer.sign(manifest)
        elif case == "non_canonical":
            manifest = manifest.replace(b'":', b'": ', 1)
            signature = signer.sign(manifest)
        elif case == "oversized":
            settings = settings_for(signer, verification_max_manifest_bytes=1024)
        elif case == "wrong_env":
            manifest = edit_manifest(manifest, environment="production")
            signature = signer.sign(manifest)
        # When it is verified in ci
        report = run(db, settings, manifest, signature)
        fetched = len(behaviour.requests)
    # Then the run is refused with that reason, recorded, and no file was fetched
    assert (report.result, report.reason, report.exit_code) == ("refused", reason, 1)
    assert fetched == 0
    [result] = rows(db, "SELECT kind, status, reason FROM migration_verification_results")
    assert result == {"kind": "manifest", "status": "refused", "reason": reason}
    [run_row] = rows(db, "SELECT result, reason, domain FROM migration_verification_runs")
    assert (run_row["result"], run_row["reason"]) == ("refused", reason)
    if case in ("tampered", "wrong_key", "missing", "oversized"):
        assert run_row["domain"] is None  # nothing unsigned is trusted
    assert rows(db, "SELECT * FROM verified_releases") == []


def test_a_lower_version_than_the_last_verified_is_a_rollback(db, site):
    """After version 10 verified, version 9 is refused (rollback); version 10 again is accepted."""
    signer = Signer()
    settings = settings_for(signer)
    with serve(site) as (base, _):
        v10 = manifest_for(site, base, version=10)
        assert run(db, settings, v10, signer.sign(v10)).result == "success"
        # When an older release is presented
        v9 = manifest_for(site, base, version=9)
        old = run(db, settings, v9, signer.sign(v9))
        again = run(db, settings, v10, signer.sign(v10))
    # Then it is refused as a rollback while a later run of the same release gets its own rows
    assert (old.result, old.reason) == ("refused", "rollback")
    assert again.result == "success" and again.run_id != old.run_id
    assert len(rows(db, "SELECT * FROM verified_releases")) == 2


def test_keys_rotate_old_and_new_both_accepted(db, site):
    """With two public keys configured, manifests signed by either verify."""
    old, new = Signer(), Signer()
    settings = settings_for(old, new)
    with serve(site) as (base, _):
        manifest = manifest_for(site, base)
        assert run(db, settings, manifest, old.sign(manifest)).result == "success"
        assert run(db, settings, manifest, new.sign(manifest)).result == "success"


def test_schema_mismatch_fails_the_run(db, site):
    """A manifest whose schema fingerprint differs from the database fails with schema_mismatch."""
    signer = Signer()
    with serve(site) as (base, _):
        manifest = manifest_for(site, base, schema_fingerprint="0" * 64)
        report = run(db, settings_for(signer), manifest, signer.sign(manifest))
    assert (report.result, report.reason, report.schema_matched) == (
        "failure",
        "schema_mismatch",
        False,
    )
    assert report.files_failed == 0 and report.exit_code == 1


def test_results_tables_refuse_update_and_delete(db, site):
    """UPDATE and DELETE on the verification tables are refused by the database."""
    from sqlalchemy.exc import DBAPIError

    from sheen.db.models import VERIFICATION_AUDIT_TABLES

    signer = Signer()
    with serve(site) as (base, _):
        manifest = manifest_for(site, base)
        run(db, settings_for(signer), manifest, signer.sign(manifest))
    for table in VERIFICATION_AUDIT_TABLES:
        for statement in (f"UPDATE {table} SET run_id = run_id", f"DELETE FROM {table}"):
            with pytest.raises(DBAPIError, match="append-only"), db.begin() as conn:
                conn.execute(text(statement))


def test_a_success_row_must_carry_matching_hashes(db):
    """mvr_success_matches_hash: a success row with different hashes, or a failure without error, is refused."""
    from sqlalchemy.exc import IntegrityError

    base = (
        "INSERT INTO migration_verification_results (run_id, kind, path, environment, status, "
        "expected_sha256, actual_sha256, error, reason) VALUES (gen_random_uuid(), 'file', 'a', 'ci', "
    )
    for values in (
        f"'success', '{'a' * 64}', '{'b' * 64}', NULL, NULL)",
        f"'failure', '{'a' * 64}', '{'b' * 64}', NULL, 'hash_mismatch')",
        f"'success', '{'A' * 64}', '{'A' * 64}', NULL, NULL)",
    ):
        with pytest.raises(IntegrityError), db.begin() as conn:
            conn.execute(text(base + values))


class _Receiver:
    """A tiny local webhook receiver that keeps every JSON body it was posted."""

    def __init__(self) -> None:
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, HTTPServer

        bodies: list[dict] = []
        self.bodies = bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"


def test_staging_posts_one_webhook_message_per_failed_run(db, site):
    """Staging: a failed run posts exactly one Slack-compatible message; a successful one none."""
    # Given a webhook receiver and a staging site with one changed file
    receiver = _Receiver()
    signer = Signer()
    settings = settings_for(signer, alert_webhook_url=receiver.url)
    try:
        with serve(site, SiteBehaviour(override={"pages/file00004.txt": b"changed"})) as (base, _):
            manifest = manifest_for(site, base, environment="staging")
            # When it is verified in staging
            report = run(db, settings, manifest, signer.sign(manifest), env="staging")
        with serve(site) as (base, _):
            good = manifest_for(site, base, environment="staging")
            ok = run(db, settings, good, signer.sign(good), env="staging")
    finally:
        receiver.server.shutdown()
    # Then exactly one message arrived, for the failed run, naming the file; exit 0 in staging
    assert (report.result, report.exit_code, ok.result) == ("failure", 0, "success")
    [message] = receiver.bodies
    assert "pages/file00004.txt" in message["text"]
    assert message["sheen_verification"]["run_id"] == str(report.run_id)


def test_the_deadline_covers_slow_headers_too(db, site):
    """A server dripping its status line and headers is stopped by the total deadline as well."""
    # Given one file whose headers arrive one byte every 50 ms (never complete) and a 1 s deadline
    signer = Signer()
    slow = "pages/file00000.txt"
    with serve(site, SiteBehaviour(header_drip={slow: 0.05})) as (base, _):
        manifest = manifest_for(site, base)
        settings = settings_for(signer, verification_fetch_timeout_seconds=1.0)
        report = run(db, settings, manifest, signer.sign(manifest))
    # Then that fetch is a timeout after about 1 s
    [row] = rows(
        db,
        "SELECT path, reason, duration_seconds FROM migration_verification_results WHERE status <> 'success'",
    )
    assert (row["path"], row["reason"]) == (slow, "timeout")
    assert row["duration_seconds"] < 2.5
    assert report.exit_code == 1


def test_a_certificate_that_does_not_verify_is_a_tls_error(db, site, tmp_path):
    """TLS verification is on: a self-signed certificate fails every fetch with tls_error."""
    from tests.verification_support import self_signed_context

    # Given an HTTPS site with a certificate no trusted authority signed
    signer = Signer()
    with serve(site, tls=self_signed_context(tmp_path)) as (base, behaviour):
        manifest = manifest_for(site, base)
        # When it is verified
        report = run(db, settings_for(signer), manifest, signer.sign(manifest))
    # Then no file was read and each one failed TLS verification
    assert report.files_failed == 6 and report.exit_code == 1
    reasons = rows(
        db, "SELECT DISTINCT reason FROM migration_verification_results WHERE kind = 'file'"
    )
    assert reasons == [{"reason": "tls_error"}]
    assert behaviour.requests == []


def test_a_server_that_never_completes_the_tls_handshake_is_a_timeout(db, site):
    """An HTTPS listener that accepts and then stays silent is a timeout at the deadline, not a hang."""
    import socket
    import threading

    # Given a TCP listener that accepts connections and never answers
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    threading.Thread(target=lambda: accepted.append(listener.accept()[0]), daemon=True).start()
    signer = Signer()
    base = f"https://127.0.0.1:{listener.getsockname()[1]}/"
    manifest = manifest_for(make_tree(site.parent / "one", count=1), base)
    settings = settings_for(signer, verification_fetch_timeout_seconds=1.0)
    try:
        # When its single file is verified with a 1 s deadline
        report = run(db, settings, manifest, signer.sign(manifest))
    finally:
        listener.close()
        for conn in accepted:
            conn.close()
    # Then the file failed as a timeout after about a second
    [row] = rows(
        db,
        "SELECT reason, duration_seconds FROM migration_verification_results WHERE kind = 'file'",
    )
    assert row["reason"] == "timeout" and row["duration_seconds"] < 2.5
    assert report.exit_code == 1
