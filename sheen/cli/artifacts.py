"""`sheen-ops artifacts ...`: where an artifact is, a verified restore, the cold bucket's rule.

Exit status: 0 done, 1 refused (the reason is printed) or not found, 2 bad usage.
"""

from __future__ import annotations

import sys
import uuid
from typing import Any

import click

from sheen.cli.output import emit_json, emit_table


def _context() -> tuple[Any, Any, Any]:
    from sheen.artifacts import open_store
    from sheen.db.engine import get_engine
    from sheen.settings import load_settings

    settings = load_settings()
    return settings, get_engine(settings), open_store(settings)


@click.group()
def artifacts() -> None:
    """Build artifacts: where one is, restore one, the cold storage rule."""


@artifacts.command("show")
@click.argument("artifact_id", type=click.UUID)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show(artifact_id: uuid.UUID, as_json: bool) -> None:
    """Where the artifact is (live, soft-deleted, cold, purged) and its history."""
    from sheen.artifacts.history import describe

    settings, engine, _ = _context()
    info = describe(engine, settings, artifact_id)
    if info is None:
        click.echo(f"no artifact {artifact_id}", err=True)
        sys.exit(1)
    if as_json:
        emit_json(info)
        return
    click.echo(f"artifact {info['id']}: {info['state']} ({info['where']})")
    click.echo(f"  sha256 {info['sha256']}  size {info['size_bytes']} bytes")
    click.echo(f"  hot   {info['hot_bucket']}/{info['storage_key']}")
    if info["cold_storage_key"]:
        click.echo(f"  cold  {info['cold_bucket']}/{info['cold_storage_key']}")
    rows = [[h["at"], h["what"], h["detail"]] for h in info["history"]]
    if rows:
        emit_table(["when", "what", "detail"], rows)


@artifacts.command("restore")
@click.argument("artifact_id", type=click.UUID)
@click.option("--dry-run", is_flag=True, help="Verify the source's SHA-256 only; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def restore_cmd(artifact_id: uuid.UUID, dry_run: bool, as_json: bool) -> None:
    """Bring a soft-deleted or cold artifact back, only if its bytes match its SHA-256."""
    from sheen.artifacts import StorageError, restore
    from sheen.deadletters.audit import current_actor

    settings, engine, store = _context()
    try:
        result = restore(engine, store, settings, artifact_id, current_actor(settings), dry_run)
    except StorageError as exc:
        click.echo(f"{artifact_id}: object store error, nothing changed: {exc}", err=True)
        sys.exit(1)
    if as_json:
        emit_json(result.as_dict())
    elif result.ok:
        verb = "would be restored" if dry_run else "restored"
        click.echo(f"{artifact_id}: {verb} from {result.source} (sha256 {result.actual_sha256})")
    else:
        detail = f" (expected {result.expected_sha256}, found {result.actual_sha256})"
        extra = detail if result.reason == "hash_mismatch" else ""
        click.echo(f"{artifact_id}: restore refused: {result.reason}{extra}", err=True)
    sys.exit(0 if result.ok else 1)


@artifacts.group("lifecycle")
def lifecycle() -> None:
    """The cold bucket's lifecycle rule (archive storage class after N days)."""


@lifecycle.command("apply")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def apply(as_json: bool) -> None:
    """Put the archive rule on the cold prefix, then read it back from the server."""
    from sheen.artifacts.store import COLD_PREFIX, LifecycleRule

    settings, _, store = _context()
    rule = LifecycleRule(
        COLD_PREFIX, settings.artifact_archive_after_days, settings.artifact_archive_storage_class
    )
    store.ensure_buckets(settings.artifact_cold_bucket)
    store.put_lifecycle_rule(settings.artifact_cold_bucket, rule)
    applied = store.lifecycle_rules(settings.artifact_cold_bucket)
    if rule not in applied:
        click.echo("the server did not keep the lifecycle rule", err=True)
        sys.exit(1)
    data = {"bucket": settings.artifact_cold_bucket, "rules": [vars(r) for r in applied]}
    if as_json:
        emit_json(data)
    else:
        click.echo(
            f"{settings.artifact_cold_bucket}: {rule.prefix}* -> {rule.storage_class}"
            f" after {rule.days} days"
        )
