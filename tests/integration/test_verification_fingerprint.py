"""The schema fingerprint: stable across runs and a pg_dump/pg_restore copy, changed by ALTER TABLE."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import create_engine, text

from sheen.verification.fingerprint import schema_fingerprint

PG_BIN = Path("/usr/lib/postgresql/15/bin")
SCHEMAS = ("public", "auth")


def _tool(name: str) -> str:
    found = PG_BIN / name
    if found.exists():
        return str(found)
    which = shutil.which(name)
    if not which:
        pytest.fail(f"{name} not found (Debian package postgresql-client-15)")
    return which


@pytest.fixture
def restored_copy(services, tmp_path) -> Iterator[str]:
    """A new database restored from a pg_dump (custom format) of the test database."""
    name = f"fp_{uuid.uuid4().hex[:10]}"
    libpq = "postgresql://" + services.database_url.split("://", 1)[1]
    admin = libpq.rsplit("/", 1)[0] + "/postgres"
    dump = tmp_path / "schema.dump"
    subprocess.run([_tool("pg_dump"), "--format=custom", "--file", str(dump), libpq], check=True)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    target = libpq.rsplit("/", 1)[0] + f"/{name}"
    subprocess.run([_tool("pg_restore"), "--no-owner", "--dbname", target, str(dump)], check=True)
    yield target.replace("postgresql://", "postgresql+psycopg://")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def test_fingerprint_is_stable_across_runs_and_a_dump_restore(db, restored_copy):
    """Two readings agree, and a restored copy of the database has the same fingerprint."""
    # Given the migrated test database and a copy restored from its dump
    original = schema_fingerprint(db, SCHEMAS)
    copy = create_engine(restored_copy)
    try:
        # When both are fingerprinted
        restored = schema_fingerprint(copy, SCHEMAS)
        # Then they match, and a second reading of the original too
        assert restored == original == schema_fingerprint(db, SCHEMAS)
        # When a column is added to the copy (never to the shared test database)
        with copy.begin() as conn:
            conn.execute(text("ALTER TABLE plans ADD COLUMN note text"))
        # Then its fingerprint changes
        assert schema_fingerprint(copy, SCHEMAS) != original
    finally:
        copy.dispose()


@pytest.mark.parametrize(
    "ddl",
    [
        "ALTER TABLE plans ALTER COLUMN daily_bonus_seconds TYPE bigint",
        "CREATE INDEX ix_plans_extra ON plans (daily_bonus_seconds)",
        "ALTER TABLE plans DROP CONSTRAINT ck_plans_non_negative",
        "DROP TRIGGER usage_events_append_only ON usage_events",
        "ALTER TYPE mvr_env ADD VALUE 'preview'",
    ],
)
def test_each_kind_of_schema_change_changes_the_fingerprint(restored_copy, ddl):
    """A changed type, a new index, a dropped constraint or trigger, a new enum label: a new fingerprint."""
    copy = create_engine(restored_copy)
    try:
        before = schema_fingerprint(copy, SCHEMAS)
        with copy.begin() as conn:
            conn.execute(text(ddl))
        assert schema_fingerprint(copy, SCHEMAS) != before
    finally:
        copy.dispose()
