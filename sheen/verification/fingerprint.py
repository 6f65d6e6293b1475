"""The schema fingerprint: SHA-256 over a canonical description of the application schemas.

Tables, columns (name, type, nullability, default), constraints, indexes, triggers
and enum types, each described by PostgreSQL's own deparsers (`format_type`,
`pg_get_constraintdef`, `pg_get_indexdef`, `pg_get_triggerdef`) with
`search_path` emptied so every name is schema-qualified, and sorted by name.
Nothing that a dump and restore renumbers (OIDs, attribute numbers, physical
column order) enters the description, so a restored copy has the same fingerprint.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import Connection, Engine

from sheen.db.queries import query
from sheen.verification.manifest import canonical_bytes

PARTS = ("tables", "columns", "constraints", "indexes", "triggers", "enums")


def describe(conn: Connection, schemas: tuple[str, ...]) -> dict[str, list[list[Any]]]:
    """The canonical description: per part, a sorted list of rows."""
    conn.execute(query("verification", "fingerprint_search_path"))
    description: dict[str, list[list[Any]]] = {}
    for part in PARTS:
        rows = conn.execute(
            query("verification", f"fingerprint_{part}"), {"schemas": list(schemas)}
        )
        description[part] = sorted([list(row) for row in rows])
    return description


def schema_fingerprint(engine: Engine, schemas: tuple[str, ...]) -> str:
    """Hex SHA-256 of the canonical description of `schemas` in `engine`'s database."""
    with engine.begin() as conn:  # SET LOCAL search_path lasts for this transaction only
        description = describe(conn, schemas)
    return hashlib.sha256(canonical_bytes(description)).hexdigest()
