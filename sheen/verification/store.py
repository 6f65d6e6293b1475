"""The results store: named SQL over the append-only verification tables.

Per-file rows are written batch by batch, each batch in its own transaction and
idempotent (`ON CONFLICT (run_id, kind, path) DO NOTHING`); the run row, the
schema row and the verified release go into the caller's final transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine

from sheen.db.queries import query
from sheen.verification.fetcher import FetchOutcome


@dataclass(frozen=True)
class RunScope:
    """What every row of a run repeats."""

    run_id: uuid.UUID
    environment: str
    domain: str | None = None
    commit_sha: str | None = None


def _row(scope: RunScope, **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "run_id": scope.run_id,
        "domain": scope.domain,
        "environment": scope.environment,
        "commit_sha": scope.commit_sha,
        "url": None,
        "reason": None,
        "error": None,
        "expected_sha256": None,
        "actual_sha256": None,
        "expected_size": None,
        "actual_size": None,
        "http_status": None,
        "duration_seconds": None,
    }
    row.update(values)
    return row


def file_row(scope: RunScope, outcome: FetchOutcome) -> dict[str, Any]:
    entry = outcome.entry
    return _row(
        scope,
        kind="file",
        path=entry.path,
        url=entry.url,
        status="success" if outcome.ok else "failure",
        reason=outcome.reason.value if outcome.reason else None,
        error=outcome.error,
        expected_sha256=entry.sha256,
        actual_sha256=outcome.actual_sha256,
        expected_size=entry.size,
        actual_size=outcome.actual_size,
        http_status=outcome.http_status,
        duration_seconds=round(outcome.duration_seconds, 6),
    )


def schema_row(scope: RunScope, expected: str, actual: str) -> dict[str, Any]:
    matched = expected == actual
    return _row(
        scope,
        kind="schema",
        path="<schema>",
        status="success" if matched else "failure",
        reason=None if matched else "schema_mismatch",
        error=None if matched else "schema fingerprint differs from the manifest",
        expected_sha256=expected,
        actual_sha256=actual,
    )


def refusal_row(scope: RunScope, manifest_sha256: str, reason: str, detail: str) -> dict[str, Any]:
    return _row(
        scope,
        kind="manifest",
        path="<manifest>",
        status="refused",
        reason=reason,
        error=detail[:1000],
        actual_sha256=manifest_sha256,
    )


def recorded_paths(engine: Engine, run_id: uuid.UUID) -> set[str]:
    with engine.connect() as conn:
        rows = conn.execute(query("verification", "recorded_paths"), {"run_id": run_id})
        return {str(r[0]) for r in rows}


def write_rows(engine: Engine, rows: Iterable[Mapping[str, Any]]) -> None:
    """One batch, one transaction; rows already there (a redelivery) are left alone."""
    batch = list(rows)
    if batch:
        with engine.begin() as conn:
            conn.execute(query("verification", "insert_result"), batch)


def insert_rows(conn: Connection, rows: Iterable[Mapping[str, Any]]) -> None:
    batch = list(rows)
    if batch:
        conn.execute(query("verification", "insert_result"), batch)


def file_totals(conn: Connection, run_id: uuid.UUID) -> dict[str, Any]:
    return dict(
        conn.execute(query("verification", "run_file_totals"), {"run_id": run_id}).mappings().one()
    )


def last_verified_version(engine: Engine, domain: str, environment: str) -> int | None:
    with engine.connect() as conn:
        value = conn.execute(
            query("verification", "last_verified_version"),
            {"domain": domain, "environment": environment},
        ).scalar()
    return None if value is None else int(value)


def insert_run(conn: Connection, row: Mapping[str, Any]) -> None:
    conn.execute(query("verification", "insert_run"), dict(row))


def insert_release(conn: Connection, scope: RunScope, version: int) -> None:
    conn.execute(
        query("verification", "insert_verified_release"),
        {
            "run_id": scope.run_id,
            "domain": scope.domain,
            "environment": scope.environment,
            "commit_sha": scope.commit_sha,
            "manifest_version": version,
        },
    )


def _dicts(engine: Engine, name: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(query("verification", name), dict(params)).mappings()]


def failures_of_run(engine: Engine, run_id: uuid.UUID, limit: int = 20) -> list[dict[str, Any]]:
    return _dicts(engine, "failures_of_run", {"run_id": run_id, "limit": limit})


def history(
    engine: Engine, domain: str | None = None, environment: str | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    params = {"domain": domain, "environment": environment, "limit": limit}
    return _dicts(engine, "history", params)


def latest_per_domain_env(
    engine: Engine, domain: str | None = None, environment: str | None = None
) -> list[dict[str, Any]]:
    return _dicts(engine, "latest_per_domain_env", {"domain": domain, "environment": environment})


def failed_since(engine: Engine, since: datetime, limit: int = 50) -> list[dict[str, Any]]:
    return _dicts(engine, "failed_since", {"since": since, "limit": limit})
