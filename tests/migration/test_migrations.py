"""Migrations applied to an empty database match the declared models, and go back down."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import DBAPIError

from sheen.db.migrate import downgrade, upgrade
from sheen.db.models import APPEND_ONLY_TABLES, metadata


@pytest.fixture
def empty_db(services) -> Iterator[str]:
    """A brand-new, empty database; dropped afterwards."""
    name = f"mig_{uuid.uuid4().hex[:10]}"
    admin = services.database_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = services.database_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    yield f"{url}/{name}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def _schema_include(name, type_, _parents):
    return name in (None, "public", "auth") if type_ == "schema" else True


def test_head_matches_declared_models(empty_db):
    """Upgrading an empty database to head leaves no difference from sheen.db.models."""
    upgrade(empty_db)
    engine = create_engine(empty_db)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn,
            opts={
                "include_schemas": True,
                "include_name": _schema_include,
                "compare_type": True,
                "compare_server_default": True,
            },
        )
        diff = compare_metadata(ctx, metadata)
    engine.dispose()
    assert diff == []


def test_every_migration_downgrades(empty_db):
    """Down to base removes every table; up again works (each migration has a downgrade)."""
    upgrade(empty_db)
    downgrade(empty_db, "base")
    engine = create_engine(empty_db)
    tables = set(inspect(engine).get_table_names()) | set(
        inspect(engine).get_table_names(schema="auth")
    )
    engine.dispose()
    assert tables <= {"alembic_version"}
    upgrade(empty_db)


@pytest.mark.parametrize("table", APPEND_ONLY_TABLES)
def test_audit_tables_refuse_update_and_delete(db, table):
    """The database itself refuses UPDATE and DELETE on append-only audit tables."""
    for statement in (f"UPDATE {table} SET id = id", f"DELETE FROM {table}"):
        with pytest.raises(DBAPIError, match="append-only"), db.begin() as conn:
            # a row must exist for a row-level trigger to fire
            conn.execute(text(_insert_row(table)))
            conn.execute(text(statement))


def _insert_row(table: str) -> str:
    uid = uuid.uuid4()
    if table == "usage_events":
        return f"INSERT INTO usage_events (user_id, kind, seconds, period) VALUES ('{uid}', 'daily_reset', 1, 'p')"
    return (
        "INSERT INTO project_build_events (project_id, build_id, user_id, event, reason) "
        f"VALUES ('{uid}', '{uid}', '{uid}', 'failed', 'ghost')"
    )
