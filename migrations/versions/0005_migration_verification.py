"""Site-migration verification: results, runs and verified releases.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 10:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MVR_ENV = postgresql.ENUM("ci", "staging", "production", name="mvr_env", create_type=False)
SHA256 = "~ '^[0-9a-f]{64}$'"
COMMIT = "~ '^[0-9a-f]{40}([0-9a-f]{24})?$'"
TABLES = ("migration_verification_results", "migration_verification_runs", "verified_releases")


def _now() -> sa.TextClause:
    return sa.text("now()")


def upgrade() -> None:
    op.execute("CREATE TYPE mvr_env AS ENUM ('ci', 'staging', 'production')")
    op.create_table(
        "migration_verification_results",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("url", sa.Text()),
        sa.Column("domain", sa.Text()),
        sa.Column("environment", MVR_ENV, nullable=False),
        sa.Column("commit_sha", sa.Text()),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text()),
        sa.Column("error", sa.Text()),
        sa.Column("expected_sha256", sa.Text()),
        sa.Column("actual_sha256", sa.Text()),
        sa.Column("expected_size", sa.BigInteger()),
        sa.Column("actual_size", sa.BigInteger()),
        sa.Column("http_status", sa.SmallInteger()),
        sa.Column("duration_seconds", sa.Float()),
        sa.Column("checked_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('file', 'schema', 'manifest')",
            name="ck_migration_verification_results_kind_known",
        ),
        sa.CheckConstraint(
            "status IN ('success', 'failure', 'refused')",
            name="ck_migration_verification_results_status_known",
        ),
        sa.CheckConstraint(
            f"(expected_sha256 IS NULL OR expected_sha256 {SHA256})"
            f" AND (actual_sha256 IS NULL OR actual_sha256 {SHA256})",
            name="ck_migration_verification_results_sha256_hex",
        ),
        sa.CheckConstraint(
            f"commit_sha IS NULL OR commit_sha {COMMIT}",
            name="ck_migration_verification_results_commit_hex",
        ),
        sa.CheckConstraint(
            "(status = 'success' AND expected_sha256 IS NOT NULL"
            " AND actual_sha256 = expected_sha256 AND error IS NULL)"
            " OR (status <> 'success' AND error IS NOT NULL AND reason IS NOT NULL)",
            name="mvr_success_matches_hash",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_migration_verification_results"),
        sa.UniqueConstraint(
            "run_id", "kind", "path", name="uq_migration_verification_results_run_id_kind_path"
        ),
    )
    op.create_index(
        "ix_mvr_results_checked_at_brin",
        "migration_verification_results",
        ["checked_at"],
        postgresql_using="brin",
    )
    op.create_index(
        "ix_mvr_results_domain_env_checked",
        "migration_verification_results",
        ["domain", "environment", sa.literal_column("checked_at DESC")],
    )
    op.create_table(
        "migration_verification_runs",
        sa.Column("run_id", sa.UUID(), nullable=False),
        sa.Column("task_id", sa.Text()),
        sa.Column("domain", sa.Text()),
        sa.Column("environment", MVR_ENV, nullable=False),
        sa.Column("commit_sha", sa.Text()),
        sa.Column("manifest_version", sa.BigInteger()),
        sa.Column("manifest_sha256", sa.Text(), nullable=False),
        sa.Column("key_id", sa.Text()),
        sa.Column("result", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text()),
        sa.Column("files_total", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("files_matched", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("files_failed", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("schema_matched", sa.Boolean()),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.Column("duration_seconds", sa.Float(), nullable=False),
        sa.CheckConstraint(
            "result IN ('success', 'failure', 'refused')",
            name="ck_migration_verification_runs_result_known",
        ),
        sa.CheckConstraint(
            f"manifest_sha256 {SHA256}", name="ck_migration_verification_runs_sha256_hex"
        ),
        sa.CheckConstraint(
            f"commit_sha IS NULL OR commit_sha {COMMIT}",
            name="ck_migration_verification_runs_commit_hex",
        ),
        sa.CheckConstraint(
            "result <> 'success' OR (files_failed = 0 AND files_total > 0 AND schema_matched)",
            name="ck_migration_verification_runs_success_complete",
        ),
        sa.CheckConstraint(
            "result = 'success' OR reason IS NOT NULL",
            name="ck_migration_verification_runs_failure_has_reason",
        ),
        sa.PrimaryKeyConstraint("run_id", name="pk_migration_verification_runs"),
    )
    op.create_index(
        "ix_mvr_runs_domain_env_finished",
        "migration_verification_runs",
        ["domain", "environment", sa.literal_column("finished_at DESC")],
    )
    op.create_index(
        "ix_mvr_runs_finished_brin",
        "migration_verification_runs",
        ["finished_at"],
        postgresql_using="brin",
    )
    op.create_table(
        "verified_releases",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.UUID(), nullable=False),
        sa.Column("domain", sa.Text(), nullable=False),
        sa.Column("environment", MVR_ENV, nullable=False),
        sa.Column("commit_sha", sa.Text(), nullable=False),
        sa.Column("manifest_version", sa.BigInteger(), nullable=False),
        sa.Column("verified_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.CheckConstraint(f"commit_sha {COMMIT}", name="ck_verified_releases_commit_hex"),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["migration_verification_runs.run_id"],
            name="fk_verified_releases_run_id_migration_verification_runs",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_verified_releases"),
        sa.UniqueConstraint("run_id", name="uq_verified_releases_run_id"),
    )
    op.create_index(
        "ix_verified_releases_domain_env_version",
        "verified_releases",
        ["domain", "environment", "manifest_version"],
    )
    for table in TABLES:  # evidence: the refusing trigger of 0001
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION sheen_refuse_mutation()"
        )


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
    op.drop_index("ix_verified_releases_domain_env_version", table_name="verified_releases")
    op.drop_table("verified_releases")
    op.drop_index("ix_mvr_runs_finished_brin", table_name="migration_verification_runs")
    op.drop_index("ix_mvr_runs_domain_env_finished", table_name="migration_verification_runs")
    op.drop_table("migration_verification_runs")
    op.drop_index("ix_mvr_results_domain_env_checked", table_name="migration_verification_results")
    op.drop_index("ix_mvr_results_checked_at_brin", table_name="migration_verification_results")
    op.drop_table("migration_verification_results")
    op.execute("DROP TYPE IF EXISTS mvr_env")
