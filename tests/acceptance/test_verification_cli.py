"""`sheen-ops manifest` and `sheen-ops verify` as a CI job would run them, exit statuses included."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.verification_support import COMMIT, SiteBehaviour, make_tree, serve

ROOT = Path(__file__).resolve().parents[2]
SHEEN_OPS = str(Path(sys.executable).with_name("sheen-ops"))


def ops(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SHEEN_OPS, *argv], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_keygen_build_sign_verify_and_history(db, services, tmp_path):
    """A key pair, a built and signed manifest, then verify run: 0 when all match, 1 in ci on a change, 0 in production."""
    # Given a key pair made by the CLI and a site serving the built tree
    env = services.env()
    keys = ops(env, "manifest", "keygen", "--out-dir", str(tmp_path / "keys"), "--json")
    assert keys.returncode == 0, keys.stderr
    public = json.loads(keys.stdout)["public_key"]
    env = services.env(SHEEN_MANIFEST_PUBLIC_KEYS=public)
    site = make_tree(tmp_path / "site", count=4)
    behaviour = SiteBehaviour()
    with serve(site, behaviour) as (base, _):
        outputs = {}
        for environment in ("ci", "production"):
            manifest = tmp_path / f"{environment}.json"
            built = ops(
                env, "manifest", "build", str(site), "--domain", "example.test",
                "--commit", COMMIT, "--env", environment, "--base-url", base,
                "--version", "7", "--output", str(manifest),
            )  # fmt: skip
            assert built.returncode == 0, built.stderr
            signed = ops(
                env,
                "manifest",
                "sign",
                str(manifest),
                "--key",
                str(tmp_path / "keys/manifest-signing.key"),
            )
            assert signed.returncode == 0, signed.stderr
            outputs[environment] = manifest
        verify = ["verify", "run", "--json", "--signature"]
        # When all files match, in ci
        ok = ops(env, *verify, f"{outputs['ci']}.sig", str(outputs["ci"]), "--env", "ci")
        # and when one file changed, in ci and in production
        behaviour.override["pages/file00000.txt"] = b"tampered"
        bad_ci = ops(env, *verify, f"{outputs['ci']}.sig", str(outputs["ci"]), "--env", "ci")
        bad_prod = ops(
            env,
            *verify,
            f"{outputs['production']}.sig",
            str(outputs["production"]),
            "--env",
            "production",
        )
        # and without a signature
        unsigned = ops(env, "verify", "run", str(outputs["ci"]), "--env", "ci")
    # Then the exit statuses follow the environment's policy
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert json.loads(ok.stdout)["result"] == "success"
    assert bad_ci.returncode == 1
    assert json.loads(bad_ci.stdout)["failures"][0]["path"] == "pages/file00000.txt"
    assert bad_prod.returncode == 0
    assert json.loads(bad_prod.stdout)["result"] == "failure"
    assert unsigned.returncode == 1 and "missing_signature" in unsigned.stdout
    # and history lists the four runs, newest first
    history = ops(env, "verify", "history", "--domain", "example.test", "--json")
    assert history.returncode == 0, history.stderr
    results = [r["result"] for r in json.loads(history.stdout)]
    assert results == ["failure", "failure", "success"]  # the unsigned run has no trusted domain
    table = ops(env, "verify", "history")
    assert "refused" in table.stdout and "missing_signature" in table.stdout


def test_a_bad_public_key_setting_exits_2_on_one_line(services, tmp_path):
    """SHEEN_MANIFEST_PUBLIC_KEYS that is not a base64 Ed25519 key: configuration error, exit 2."""
    manifest = tmp_path / "m.json"
    manifest.write_text("{}")
    result = ops(
        services.env(SHEEN_MANIFEST_PUBLIC_KEYS="bm90IGEga2V5"),
        "verify", "run", str(manifest), "--env", "ci",
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "SHEEN_MANIFEST_PUBLIC_KEYS" in result.stderr
