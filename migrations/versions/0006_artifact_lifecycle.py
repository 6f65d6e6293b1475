"""Artifact lifecycle: cold storage, purge, recovery and cleanup audit logs.

The two new logs and `dead_letter_audit` become hash chains: a BEFORE INSERT trigger
(`sheen_chain_link`) locks the log's row in `audit_chain_heads`, so concurrent inserts
are linked one after the other, and stores `prev_hash` (the previous row's hash) and
`row_hash` = SHA-256 of the previous hash and the row's content (`sheen_chain_digest`).
`sheen-ops audit verify` recomputes both with the same function.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 10:45:00
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GENESIS = "0" * 64
NEW_LOGS = ("cleanup_audit_log", "artifact_recovery_log")
_SHA256 = "~ '^[0-9a-f]{64}$'"

# The content of a row is its jsonb form without `row_hash` (so it covers id, chain_seq
# and prev_hash); jsonb text is canonical (sorted keys) and timestamps render in UTC here.
CHAIN_FUNCTIONS = f"""
CREATE FUNCTION sheen_chain_digest(content jsonb) RETURNS text
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT encode(sha256(convert_to(content::text, 'UTF8')), 'hex')
$$;

CREATE FUNCTION sheen_chain_link() RETURNS trigger LANGUAGE plpgsql
SET "TimeZone" = 'UTC' AS $$
DECLARE
    head record;
BEGIN
    SELECT last_seq, last_hash INTO head FROM audit_chain_heads
    WHERE log = TG_TABLE_NAME FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO audit_chain_heads (log, last_seq, last_hash)
        VALUES (TG_TABLE_NAME, 0, '{GENESIS}') ON CONFLICT (log) DO NOTHING;
        SELECT last_seq, last_hash INTO head FROM audit_chain_heads
        WHERE log = TG_TABLE_NAME FOR UPDATE;
    END IF;
    NEW.chain_seq := head.last_seq + 1;
    NEW.prev_hash := head.last_hash;
    NEW.row_hash := sheen_chain_digest(to_jsonb(NEW) - 'row_hash');
    UPDATE audit_chain_heads
    SET last_seq = NEW.chain_seq, last_hash = NEW.row_hash, updated_at = now()
    WHERE log = TG_TABLE_NAME;
    RETURN NEW;
END
$$;
"""

# Existing dead-letter audit rows get their links in id order, then the head.
BACKFILL_DEAD_LETTER_AUDIT = f"""
DO $$
DECLARE
    r record;
    prev text := '{GENESIS}';
    seq bigint := 0;
BEGIN
    SET LOCAL "TimeZone" = 'UTC';
    FOR r IN SELECT id FROM dead_letter_audit ORDER BY id LOOP
        seq := seq + 1;
        UPDATE dead_letter_audit SET chain_seq = seq, prev_hash = prev WHERE id = r.id;
        UPDATE dead_letter_audit AS d
        SET row_hash = sheen_chain_digest(to_jsonb(d) - 'row_hash')
        WHERE id = r.id RETURNING row_hash INTO prev;
    END LOOP;
    INSERT INTO audit_chain_heads (log, last_seq, last_hash)
    VALUES ('dead_letter_audit', seq, prev);
END
$$
"""


def _chain_columns(table: str) -> list[Any]:
    return [
        sa.Column("chain_seq", sa.BigInteger(), nullable=False),
        sa.Column("prev_hash", sa.Text(), nullable=False),
        sa.Column("row_hash", sa.Text(), nullable=False),
        sa.CheckConstraint(
            f"prev_hash {_SHA256} AND row_hash {_SHA256}", name=op.f(f"ck_{table}_chain_hex")
        ),
        sa.UniqueConstraint("chain_seq", name=op.f(f"uq_{table}_chain_seq")),
    ]


def _ts(name: str, nullable: bool = False, default: bool = True) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(
        name,
        sa.DateTime(timezone=True),
        server_default=sa.text("now()") if default else None,
        nullable=nullable,
    )


def upgrade() -> None:
    op.add_column("build_artifacts", sa.Column("hot_deleted_at", sa.DateTime(timezone=True)))
    for name, where in (
        (
            "ix_build_artifacts_due_cold",
            "soft_deleted_at IS NOT NULL AND moved_to_cold_at IS NULL AND purged_at IS NULL",
        ),
        ("ix_build_artifacts_cold", "moved_to_cold_at IS NOT NULL AND purged_at IS NULL"),
        (
            "ix_build_artifacts_hot_pending",
            "moved_to_cold_at IS NOT NULL AND hot_deleted_at IS NULL",
        ),
    ):
        op.create_index(name, "build_artifacts", ["id"], postgresql_where=sa.text(where))
    op.create_index(
        "ix_build_artifacts_unpurged_sha256",
        "build_artifacts",
        ["sha256"],
        postgresql_where=sa.text("purged_at IS NULL"),
    )
    op.create_table(
        "audit_chain_heads",
        sa.Column("log", sa.Text(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_hash", sa.Text(), nullable=False),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("log", name=op.f("pk_audit_chain_heads")),
    )
    op.create_table(
        "cleanup_audit_log",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("artifact_id", sa.UUID(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("sha256", sa.Text(), nullable=False),
        sa.Column("storage_key", sa.Text(), nullable=False),
        sa.Column("cold_storage_key", sa.Text()),
        sa.Column("job", sa.Text(), nullable=False),
        _ts("effective_at", default=False),
        _ts("created_at"),
        *_chain_columns("cleanup_audit_log"),
        sa.CheckConstraint(
            "action IN ('soft_delete', 'move_to_cold', 'purge')",
            name=op.f("ck_cleanup_audit_log_action_known"),
        ),
        sa.CheckConstraint(f"sha256 {_SHA256}", name=op.f("ck_cleanup_audit_log_sha256_hex")),
        sa.CheckConstraint(
            "action = 'soft_delete' OR cold_storage_key IS NOT NULL",
            name=op.f("ck_cleanup_audit_log_cold_has_key"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cleanup_audit_log")),
    )
    op.create_index("ix_cleanup_audit_log_artifact", "cleanup_audit_log", ["artifact_id"])
    op.create_table(
        "artifact_recovery_log",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("artifact_id", sa.UUID(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("task_id", sa.Text()),
        sa.Column("source", sa.Text()),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text()),
        sa.Column("dry_run", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("expected_sha256", sa.Text()),
        sa.Column("actual_sha256", sa.Text()),
        _ts("created_at"),
        *_chain_columns("artifact_recovery_log"),
        sa.CheckConstraint(
            "source IS NULL OR source IN ('hot', 'cold')",
            name=op.f("ck_artifact_recovery_log_source_known"),
        ),
        sa.CheckConstraint(
            "outcome IN ('restored', 'verified', 'refused')",
            name=op.f("ck_artifact_recovery_log_outcome_known"),
        ),
        sa.CheckConstraint(
            f"(expected_sha256 IS NULL OR expected_sha256 {_SHA256})"
            f" AND (actual_sha256 IS NULL OR actual_sha256 {_SHA256})",
            name=op.f("ck_artifact_recovery_log_sha256_hex"),
        ),
        sa.CheckConstraint(
            "(outcome IN ('restored', 'verified') AND source IS NOT NULL AND actual_sha256 = expected_sha256"
            " AND reason IS NULL) OR (outcome = 'refused' AND reason IS NOT NULL)",
            name=op.f("ck_artifact_recovery_log_restored_matches_hash"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_artifact_recovery_log")),
    )
    op.create_index("ix_artifact_recovery_log_artifact", "artifact_recovery_log", ["artifact_id"])
    op.execute(CHAIN_FUNCTIONS)
    # dead_letter_audit joins the chain: columns, existing rows linked, then the trigger.
    op.add_column("dead_letter_audit", sa.Column("chain_seq", sa.BigInteger()))
    op.add_column("dead_letter_audit", sa.Column("prev_hash", sa.Text()))
    op.add_column("dead_letter_audit", sa.Column("row_hash", sa.Text()))
    op.execute("ALTER TABLE dead_letter_audit DISABLE TRIGGER dead_letter_audit_append_only")
    op.execute(BACKFILL_DEAD_LETTER_AUDIT)
    op.execute("ALTER TABLE dead_letter_audit ENABLE TRIGGER dead_letter_audit_append_only")
    for column in ("chain_seq", "prev_hash", "row_hash"):
        op.alter_column("dead_letter_audit", column, nullable=False)
    op.create_unique_constraint(
        op.f("uq_dead_letter_audit_chain_seq"), "dead_letter_audit", ["chain_seq"]
    )
    for table in (*NEW_LOGS, "dead_letter_audit"):
        op.execute(
            f"CREATE TRIGGER {table}_chain BEFORE INSERT ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION sheen_chain_link()"
        )
    for table in NEW_LOGS:
        # sheen_refuse_mutation() comes from 0001.
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION sheen_refuse_mutation()"
        )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS dead_letter_audit_chain ON dead_letter_audit")
    op.drop_constraint(op.f("uq_dead_letter_audit_chain_seq"), "dead_letter_audit")
    for column in ("row_hash", "prev_hash", "chain_seq"):
        op.drop_column("dead_letter_audit", column)
    for table in NEW_LOGS:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        op.execute(f"DROP TRIGGER IF EXISTS {table}_chain ON {table}")
    op.drop_index("ix_artifact_recovery_log_artifact", table_name="artifact_recovery_log")
    op.drop_table("artifact_recovery_log")
    op.drop_index("ix_cleanup_audit_log_artifact", table_name="cleanup_audit_log")
    op.drop_table("cleanup_audit_log")
    op.drop_table("audit_chain_heads")
    op.execute("DROP FUNCTION IF EXISTS sheen_chain_link()")
    op.execute("DROP FUNCTION IF EXISTS sheen_chain_digest(jsonb)")
    for name in (
        "ix_build_artifacts_unpurged_sha256",
        "ix_build_artifacts_hot_pending",
        "ix_build_artifacts_cold",
        "ix_build_artifacts_due_cold",
    ):
        op.drop_index(name, table_name="build_artifacts")
    op.drop_column("build_artifacts", "hot_deleted_at")
