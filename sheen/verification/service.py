"""Verify one signed manifest against what the site serves and what the database holds.

Order matters: the size cap first (nothing is parsed beyond it), then the
signature over the exact bytes (no field is read before it checks out), then the
canonical form, then the fields (expiry, environment, rollback). A refusal is
recorded as a result row and a run row like any outcome. Files already recorded
for this run (a redelivery after a crash) are not fetched again.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import Connection, Engine

from sheen.metrics import record_verification
from sheen.settings import Settings
from sheen.verification import store
from sheen.verification.fetcher import FetchOutcome, fetch_entries
from sheen.verification.fingerprint import schema_fingerprint
from sheen.verification.manifest import Manifest, parse_canonical
from sheen.verification.refusals import ManifestRefused, Reason
from sheen.verification.signing import KeyRing

log = structlog.get_logger(__name__)
CLOCK_SKEW = timedelta(minutes=5)
RUN_NAMESPACE = uuid.UUID("6f1c3a52-5d0e-4c4e-9a57-0b1e7f0c9d21")

Finalizer = Callable[[], AbstractContextManager[Connection]]


def run_id_for(key: str) -> uuid.UUID:
    """The run id of an execution: the same idempotency key always yields the same run."""
    return uuid.uuid5(RUN_NAMESPACE, f"migration.verify:{key}")


@dataclass(frozen=True)
class VerificationRequest:
    manifest: bytes
    signature: bytes | None
    environment: str  # ci | staging | production: the policy, and the manifest must match it
    run_id: uuid.UUID
    task_id: str | None = None


@dataclass
class RunReport:
    """What a run found; `exit_code` applies the environment's policy."""

    run_id: uuid.UUID
    environment: str
    result: str  # success | failure | refused
    reason: str | None = None
    domain: str | None = None
    commit: str | None = None
    version: int | None = None
    files_total: int = 0
    files_matched: int = 0
    files_failed: int = 0
    schema_matched: bool | None = None
    duration_seconds: float = 0.0
    failures: list[dict[str, Any]] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """ci fails closed (1 on anything but success); staging and production report (0)."""
        return 1 if self.environment == "ci" and self.result != "success" else 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": str(self.run_id),
            "environment": self.environment,
            "result": self.result,
            "reason": self.reason,
            "domain": self.domain,
            "commit": self.commit,
            "version": self.version,
            "files_total": self.files_total,
            "files_matched": self.files_matched,
            "files_failed": self.files_failed,
            "schema_matched": self.schema_matched,
            "duration_seconds": round(self.duration_seconds, 3),
            "failures": self.failures,
        }


def _trusted_manifest(
    engine: Engine, settings: Settings, request: VerificationRequest, now: datetime
) -> tuple[Manifest, str]:
    """The manifest and its key id, or ManifestRefused with the reason."""
    if len(request.manifest) > settings.verification_max_manifest_bytes:
        raise ManifestRefused(
            Reason.OVERSIZED,
            f"{len(request.manifest)} bytes > {settings.verification_max_manifest_bytes}",
        )
    kid = KeyRing.parse(settings.manifest_public_keys).verify(request.manifest, request.signature)
    manifest = parse_canonical(request.manifest)
    if now >= manifest.expires_at:
        raise ManifestRefused(Reason.EXPIRED, f"expired at {manifest.expires_at.isoformat()}")
    if manifest.issued_at > now + CLOCK_SKEW:
        raise ManifestRefused(Reason.NOT_YET_VALID, f"issued at {manifest.issued_at.isoformat()}")
    if manifest.environment != request.environment:
        raise ManifestRefused(
            Reason.WRONG_ENVIRONMENT,
            f"manifest is for {manifest.environment}, run is {request.environment}",
        )
    last = store.last_verified_version(engine, manifest.domain, request.environment)
    if last is not None and manifest.version < last:
        raise ManifestRefused(
            Reason.ROLLBACK, f"version {manifest.version} < last verified version {last}"
        )
    return manifest, kid


def verify(
    engine: Engine,
    settings: Settings,
    request: VerificationRequest,
    finalize: Finalizer,
    target: Engine | None = None,
) -> RunReport:
    """Run one verification; rows in the results tables, the final ones through `finalize`.

    `finalize()` opens the run's last transaction (the task passes ctx.transaction,
    which takes its done-mark first). `target` is the database whose schema is
    fingerprinted (default: `engine`'s).
    """
    started_at = datetime.now(UTC)
    clock = time.monotonic()
    manifest_sha = hashlib.sha256(request.manifest).hexdigest()
    scope = store.RunScope(request.run_id, request.environment)
    try:
        manifest, kid = _trusted_manifest(engine, settings, request, started_at)
    except ManifestRefused as refused:
        trusted = _signed_fields(settings, request)
        scope = store.RunScope(request.run_id, request.environment, trusted[0], trusted[1])
        report = RunReport(
            request.run_id, request.environment, "refused", refused.reason.value, *trusted
        )
        with finalize() as conn:
            store.insert_rows(
                conn, [store.refusal_row(scope, manifest_sha, refused.reason.value, refused.detail)]
            )
            report.duration_seconds = time.monotonic() - clock
            store.insert_run(conn, _run_row(report, request, manifest_sha, None, started_at))
        report.failures = [{"kind": "manifest", "reason": report.reason, "error": refused.detail}]
        return _finished(report, settings)

    scope = store.RunScope(request.run_id, request.environment, manifest.domain, manifest.commit)
    done = store.recorded_paths(engine, request.run_id)
    todo = [entry for entry in manifest.files if entry.path not in done]
    if done:
        log.info("migration_verification_resumed", run_id=str(request.run_id), recorded=len(done))

    def write(batch: list[FetchOutcome]) -> None:
        store.write_rows(engine, (store.file_row(scope, outcome) for outcome in batch))

    fetch_entries(
        todo,
        concurrency=settings.verification_concurrency,
        deadline=settings.verification_fetch_timeout_seconds,
        on_batch=write,
    )
    actual = schema_fingerprint(target or engine, tuple(settings.verification_schemas.split(",")))
    schema = store.schema_row(scope, manifest.schema_fingerprint, actual)
    report = RunReport(
        request.run_id,
        request.environment,
        "failure",
        domain=manifest.domain,
        commit=manifest.commit,
        version=manifest.version,
        schema_matched=schema["status"] == "success",
    )
    with finalize() as conn:
        store.insert_rows(conn, [schema])
        totals = store.file_totals(conn, request.run_id)
        report.files_total = int(totals["files_total"])
        report.files_matched = int(totals["files_matched"])
        report.files_failed = int(totals["files_failed"])
        complete = report.files_total == len(manifest.files)
        if complete and report.files_failed == 0 and report.schema_matched:
            report.result = "success"
        else:
            report.reason = totals["first_reason"] or (
                Reason.SCHEMA_MISMATCH.value if not report.schema_matched else "incomplete"
            )
        report.duration_seconds = time.monotonic() - clock
        store.insert_run(conn, _run_row(report, request, manifest_sha, kid, started_at))
        if report.result == "success":
            store.insert_release(conn, scope, manifest.version)
    if report.result != "success":
        report.failures = _jsonable(store.failures_of_run(engine, request.run_id))
    return _finished(report, settings)


def _signed_fields(
    settings: Settings, request: VerificationRequest
) -> tuple[str | None, str | None, int | None]:
    """Domain, commit and version of a refused manifest, only if its signature checked out."""
    if len(request.manifest) > settings.verification_max_manifest_bytes:
        return None, None, None  # never parsed
    try:
        KeyRing.parse(settings.manifest_public_keys).verify(request.manifest, request.signature)
        manifest = parse_canonical(request.manifest)
    except ManifestRefused:
        return None, None, None
    return manifest.domain, manifest.commit, manifest.version


def _run_row(
    report: RunReport,
    request: VerificationRequest,
    manifest_sha: str,
    kid: str | None,
    started_at: datetime,
) -> dict[str, Any]:
    return {
        "run_id": report.run_id,
        "task_id": request.task_id,
        "domain": report.domain,
        "environment": report.environment,
        "commit_sha": report.commit,
        "manifest_version": report.version,
        "manifest_sha256": manifest_sha,
        "key_id": kid,
        "result": report.result,
        "reason": report.reason,
        "files_total": report.files_total,
        "files_matched": report.files_matched,
        "files_failed": report.files_failed,
        "schema_matched": report.schema_matched,
        "started_at": started_at,
        "duration_seconds": report.duration_seconds,
    }


def _jsonable(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if v is not None} for row in rows]


def _finished(report: RunReport, settings: Settings) -> RunReport:
    record_verification(report.result, settings)
    log.info(
        "migration_verification_finished",
        run_id=str(report.run_id),
        environment=report.environment,
        result=report.result,
        reason=report.reason,
        domain=report.domain,
        commit=report.commit,
        version=report.version,
        files_total=report.files_total,
        files_failed=report.files_failed,
        schema_matched=report.schema_matched,
        duration_seconds=round(report.duration_seconds, 3),
    )
    if report.environment == "staging" and report.result != "success":
        from sheen.verification.alert import alert_failed_run

        alert_failed_run(report, settings)
    return report
