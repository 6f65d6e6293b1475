"""`sheen-ops manifest ...` (producer side, in CI) and `sheen-ops verify ...` (fleet side).

    sheen-ops manifest keygen --out-dir keys/
    sheen-ops manifest build public/ --domain example.com --commit SHA --env ci \\
        --base-url https://preview.example.com/ --output manifest.json
    sheen-ops manifest sign manifest.json --key keys/manifest-signing.key
    sheen-ops verify run manifest.json --signature manifest.json.sig --env ci
    sheen-ops verify history --domain example.com

`verify run` exits 1 in ci on any mismatch, error or refusal; staging and
production exit 0 (the rows, the metric and the log line are the report).
"""

from __future__ import annotations

import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import click

from sheen.cli.dlq import parse_duration
from sheen.cli.output import emit_json, emit_table
from sheen.settings import load_settings

ENVIRONMENTS = ("ci", "staging", "production")
PRIVATE_NAME = "manifest-signing.key"
PUBLIC_NAME = "manifest-signing.pub"


@click.group()
def manifest() -> None:
    """Signed release manifests: make a key pair, build a manifest, sign it."""


@manifest.command("keygen")
@click.option(
    "--out-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Folder for manifest-signing.key (0600) and manifest-signing.pub.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def keygen(out_dir: Path, as_json: bool) -> None:
    """Write a new Ed25519 key pair; print its key id and the public key for the fleet."""
    from sheen.verification.signing import generate

    out_dir.mkdir(parents=True, exist_ok=True)
    private, public = out_dir / PRIVATE_NAME, out_dir / PUBLIC_NAME
    if private.exists():
        raise click.UsageError(f"{private} exists; refusing to overwrite a signing key")
    kid, text = generate(private, public)
    data = {"key_id": kid, "public_key": text, "private_key_file": str(private)}
    if as_json:
        emit_json(data)
    else:
        click.echo(f"key_id={kid}\npublic_key={text}\nprivate_key_file={private}")
        click.echo("Add public_key to SHEEN_MANIFEST_PUBLIC_KEYS (comma-separated) on the fleet.")


@manifest.command("build")
@click.argument("root", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--domain", required=True, help="The site's domain, e.g. example.com.")
@click.option("--commit", required=True, help="The commit SHA the files were built from.")
@click.option("--env", "environment", required=True, type=click.Choice(ENVIRONMENTS))
@click.option("--base-url", required=True, help="URL the site serves ROOT under.")
@click.option(
    "--version",
    "version",
    type=click.IntRange(min=1),
    help="Monotonic release version (default: the current Unix time).",
)
@click.option("--valid-for", default="7d", show_default=True, help="Lifetime: 2h, 7d, ...")
@click.option(
    "--schema-fingerprint",
    help="Expected schema fingerprint (default: computed from SHEEN_DATABASE_URL).",
)
@click.option(
    "--output", type=click.Path(dir_okay=False, path_type=Path), help="File (default stdout)."
)
def build(
    root: Path,
    domain: str,
    commit: str,
    environment: str,
    base_url: str,
    version: int | None,
    valid_for: str,
    schema_fingerprint: str | None,
    output: Path | None,
) -> None:
    """Write the canonical manifest (path, URL, size, SHA-256) of every file under ROOT."""
    from pydantic import ValidationError

    from sheen.verification.manifest import build_manifest

    if schema_fingerprint is None:
        schema_fingerprint = _fingerprint()
    try:
        data = build_manifest(
            root,
            domain=domain,
            commit=commit.lower(),
            environment=environment,
            base_url=base_url,
            version=version or int(time.time()),
            schema_fingerprint=schema_fingerprint,
            valid_for=timedelta(seconds=parse_duration(valid_for)),
        )
    except ValidationError as exc:
        err = exc.errors()[0]
        raise click.UsageError(f"{'.'.join(map(str, err['loc']))}: {err['msg']}") from None
    if output:
        output.write_bytes(data)
    else:
        click.echo(data.decode())


@manifest.command("fingerprint")
def fingerprint() -> None:
    """Print the schema fingerprint of SHEEN_DATABASE_URL's application schemas."""
    click.echo(_fingerprint())


def _fingerprint() -> str:
    from sheen.db.engine import get_engine
    from sheen.verification.fingerprint import schema_fingerprint

    settings = load_settings()
    return schema_fingerprint(get_engine(settings), tuple(settings.verification_schemas.split(",")))


@manifest.command("sign")
@click.argument("manifest_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--key", "key_file", required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--output", type=click.Path(dir_okay=False, path_type=Path), help="Default: MANIFEST.sig"
)
def sign(manifest_file: Path, key_file: Path, output: Path | None) -> None:
    """Write the detached signature (key id + Ed25519 signature) of MANIFEST_FILE's bytes."""
    from sheen.verification import signing

    target = output or manifest_file.with_name(manifest_file.name + ".sig")
    target.write_bytes(signing.sign(manifest_file.read_bytes(), signing.load_private(key_file)))
    click.echo(str(target))


@click.group()
def verify() -> None:
    """Verify a signed manifest against the live site and the database; read past runs."""


@verify.command("run")
@click.argument("manifest_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--signature",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Detached signature file (a missing one is a recorded refusal).",
)
@click.option("--env", "environment", required=True, type=click.Choice(ENVIRONMENTS))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def run(manifest_file: Path, signature: Path | None, environment: str, as_json: bool) -> None:
    """Fetch and hash every file, check the schema; exit 1 in ci unless all matched."""
    from sheen.db.engine import get_engine
    from sheen.logging import configure_logging
    from sheen.verification import VerificationRequest
    from sheen.verification import verify as verify_manifest

    settings = load_settings()
    configure_logging(settings)  # the run's log line goes to stderr; stdout stays the report
    engine = get_engine(settings)
    request = VerificationRequest(
        manifest=manifest_file.read_bytes(),
        signature=signature.read_bytes() if signature else None,
        environment=environment,
        run_id=uuid.uuid4(),
    )
    report = verify_manifest(engine, settings, request, engine.begin)
    if as_json:
        emit_json(report.as_dict())
    else:
        click.echo(
            f"run_id={report.run_id} result={report.result} reason={report.reason or '-'} "
            f"files={report.files_matched}/{report.files_total} "
            f"schema={'ok' if report.schema_matched else 'mismatch' if report.schema_matched is False else '-'}"
        )
        for failure in report.failures[:50]:
            click.echo(
                f"  {failure.get('path', failure.get('kind'))}: {failure.get('reason')}: "
                f"{failure.get('error', '')}"
            )
    sys.exit(report.exit_code)


@verify.command("history")
@click.option("--domain", help="Only this domain.")
@click.option("--env", "environment", type=click.Choice(ENVIRONMENTS), help="Only this one.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def history(domain: str | None, environment: str | None, limit: int, as_json: bool) -> None:
    """Past runs, newest first: result, reason, files matched, schema."""
    from sheen.db.engine import get_engine
    from sheen.verification import store

    runs = store.history(get_engine(), domain, environment, limit)
    if as_json:
        emit_json(runs)
        return
    emit_table(
        ["finished", "domain", "env", "commit", "version", "result", "reason", "files", "schema"],
        [
            [
                r["finished_at"].strftime("%Y-%m-%d %H:%M:%S"),
                r["domain"] or "-",
                r["environment"],
                (r["commit_sha"] or "-")[:12],
                r["manifest_version"] or "-",
                r["result"],
                r["reason"] or "-",
                f"{r['files_matched']}/{r['files_total']}",
                {True: "ok", False: "mismatch", None: "-"}[r["schema_matched"]],
            ]
            for r in runs
        ],
    )
