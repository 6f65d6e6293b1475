"""The sidecar's verification view: latest run per domain and environment, and the dashboard panel."""

from __future__ import annotations

import uuid

from sheen.verification import VerificationRequest, verify
from tests.sidecar_support import bearer, make_app, sidecar_settings
from tests.verification_support import Signer, SiteBehaviour, make_tree, manifest_for, serve


def _run(db, settings, manifest, signature, env):
    return verify(
        db, settings, VerificationRequest(manifest, signature, env, uuid.uuid4()), db.begin
    )


def test_latest_run_per_domain_and_env_and_the_failed_panel(db, tmp_path):
    """GET /api/migration-verification lists the newest run per (domain, env); / shows the failed ones."""
    # Given a successful then a failed ci run of one domain and a production run of another
    signer = Signer()
    settings = sidecar_settings(manifest_public_keys=signer.public)
    site = make_tree(tmp_path / "site", count=3)
    with serve(site) as (base, _):
        good = manifest_for(site, base)
        first = _run(db, settings, good, signer.sign(good), "ci")
        other = manifest_for(site, base, domain="other.test", environment="production")
        _run(db, settings, other, signer.sign(other), "production")
    with serve(site, SiteBehaviour(override={"pages/file00000.txt": b"x"})) as (base, _):
        bad = manifest_for(site, base)
        failed = _run(db, settings, bad, signer.sign(bad), "ci")
    client = make_app(settings).test_client()
    headers = bearer(settings, "admin:read")
    # When the API is read, unfiltered and filtered
    everything = client.get("/api/migration-verification", headers=headers)
    ci_only = client.get("/api/migration-verification?domain=example.test&env=ci", headers=headers)
    # Then each (domain, env) shows its newest run only
    assert everything.status_code == 200
    latest = {(r["domain"], r["environment"]): r for r in everything.get_json()["runs"]}
    assert set(latest) == {("example.test", "ci"), ("other.test", "production")}
    assert latest[("example.test", "ci")]["run_id"] == str(failed.run_id) != str(first.run_id)
    assert [r["result"] for r in ci_only.get_json()["runs"]] == ["failure"]
    # and a token is required, and a bad env is refused
    assert client.get("/api/migration-verification").status_code == 401
    assert client.get("/api/migration-verification?env=dev", headers=headers).status_code == 400
    # and the dashboard lists the failed run of the last 24 h
    page = client.get("/", headers={**headers, "Accept": "text/html"})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'id="failed-verifications"' in html
    assert f'data-run-id="{failed.run_id}"' in html
    assert f'data-run-id="{first.run_id}"' not in html
