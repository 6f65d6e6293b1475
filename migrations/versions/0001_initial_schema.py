"""Initial schema: users, balances, builds, artifacts, job runs and the append-only audit tables.

Revision ID: 0001
Revises:
Create Date: 2026-11-25 19:43:22.081675
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


APPEND_ONLY = ("usage_events", "project_build_events")

REFUSE_MUTATION = """
CREATE FUNCTION sheen_refuse_mutation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$
"""


def upgrade() -> None:
    op.execute("CREATE SCHEMA IF NOT EXISTS auth")
    op.create_table('users',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    schema='auth'
    )
    op.create_table('job_runs',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('job', sa.Text(), nullable=False),
    sa.Column('task_id', sa.Text(), nullable=False),
    sa.Column('idempotency_key', sa.Text(), nullable=False),
    sa.Column('attempt', sa.Integer(), server_default=sa.text('1'), nullable=False),
    sa.Column('status', sa.Text(), nullable=False),
    sa.Column('queue', sa.Text(), nullable=True),
    sa.Column('region', sa.Text(), server_default=sa.text("'local'"), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('duration_seconds', sa.Float(), nullable=True),
    sa.Column('queue_wait_seconds', sa.Float(), nullable=True),
    sa.Column('rows_affected', sa.BigInteger(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.CheckConstraint("status IN ('running', 'success', 'failure', 'retry', 'timeout', 'skipped')", name=op.f('ck_job_runs_status_known')),
    sa.CheckConstraint("status NOT IN ('failure', 'timeout') OR error IS NOT NULL", name=op.f('ck_job_runs_failure_has_error')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_job_runs'))
    )
    op.create_index('ix_job_runs_job_started', 'job_runs', ['job', sa.literal_column('started_at DESC')], unique=False)
    op.create_index('ix_job_runs_started', 'job_runs', ['started_at'], unique=False)
    op.create_index('ix_job_runs_task_id', 'job_runs', ['task_id'], unique=False)
    op.create_table('plans',
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('daily_allowance_seconds', sa.Integer(), nullable=False),
    sa.Column('daily_bonus_seconds', sa.Integer(), nullable=False),
    sa.Column('monthly_bonus_cap_seconds', sa.Integer(), nullable=False),
    sa.CheckConstraint('daily_allowance_seconds >= 0 AND daily_bonus_seconds >= 0 AND monthly_bonus_cap_seconds >= 0', name=op.f('ck_plans_non_negative')),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_plans'))
    )
    op.create_table('project_build_events',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('project_id', sa.UUID(), nullable=False),
    sa.Column('build_id', sa.UUID(), nullable=False),
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('event', sa.Text(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('details', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("event <> 'failed' OR reason IS NOT NULL", name=op.f('ck_project_build_events_failed_has_reason')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_project_build_events'))
    )
    op.create_index('ix_project_build_events_build', 'project_build_events', ['build_id'], unique=False)
    op.create_table('usage_events',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('kind', sa.Text(), nullable=False),
    sa.Column('seconds', sa.Integer(), nullable=False),
    sa.Column('period', sa.Text(), nullable=False),
    sa.Column('build_id', sa.UUID(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("kind IN ('daily_reset', 'bonus_reset', 'ghost_refund')", name=op.f('ck_usage_events_kind_known')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_usage_events'))
    )
    op.create_index('ix_usage_events_user_created', 'usage_events', ['user_id', 'created_at'], unique=False)
    op.create_table('ai_time_balances',
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('plan', sa.Text(), nullable=False),
    sa.Column('daily_used_seconds', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('usage_day', sa.Date(), server_default=sa.text('CURRENT_DATE'), nullable=False),
    sa.Column('daily_bonus_seconds', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('bonus_day', sa.Date(), server_default=sa.text('CURRENT_DATE'), nullable=False),
    sa.Column('monthly_bonus_used_seconds', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('daily_used_seconds >= 0 AND daily_bonus_seconds >= 0 AND monthly_bonus_used_seconds >= 0', name=op.f('ck_ai_time_balances_non_negative')),
    sa.ForeignKeyConstraint(['plan'], ['plans.name'], name=op.f('fk_ai_time_balances_plan_plans')),
    sa.ForeignKeyConstraint(['user_id'], ['auth.users.id'], name=op.f('fk_ai_time_balances_user_id_users')),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_ai_time_balances'))
    )
    op.create_table('builds',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('project_id', sa.UUID(), nullable=False),
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('status', sa.Text(), server_default=sa.text("'queued'"), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_heartbeat_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('failure_reason', sa.Text(), nullable=True),
    sa.Column('reserved_ai_seconds', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('refunded_ai_seconds', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.CheckConstraint("status <> 'failed' OR failure_reason IS NOT NULL", name=op.f('ck_builds_failed_has_reason')),
    sa.CheckConstraint("status IN ('queued', 'building', 'deployed', 'failed')", name=op.f('ck_builds_status_known')),
    sa.CheckConstraint('reserved_ai_seconds >= 0 AND refunded_ai_seconds >= 0', name=op.f('ck_builds_non_negative')),
    sa.ForeignKeyConstraint(['user_id'], ['auth.users.id'], name=op.f('fk_builds_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_builds'))
    )
    op.create_index('ix_builds_live_heartbeat', 'builds', ['id'], unique=False, postgresql_where=sa.text("status IN ('queued', 'building')"))
    op.create_table('build_artifacts',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('project_id', sa.UUID(), nullable=False),
    sa.Column('build_id', sa.UUID(), nullable=False),
    sa.Column('storage_key', sa.Text(), nullable=False),
    sa.Column('sha256', sa.Text(), nullable=False),
    sa.Column('size_bytes', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('soft_deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cold_storage_key', sa.Text(), nullable=True),
    sa.Column('moved_to_cold_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('purged_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("sha256 ~ '^[0-9a-f]{64}$'", name=op.f('ck_build_artifacts_sha256_hex')),
    sa.CheckConstraint('moved_to_cold_at IS NULL OR (soft_deleted_at IS NOT NULL AND cold_storage_key IS NOT NULL)', name=op.f('ck_build_artifacts_cold_after_soft_delete')),
    sa.CheckConstraint('purged_at IS NULL OR soft_deleted_at IS NOT NULL', name=op.f('ck_build_artifacts_purge_after_soft_delete')),
    sa.CheckConstraint('size_bytes >= 0', name=op.f('ck_build_artifacts_size_non_negative')),
    sa.ForeignKeyConstraint(['build_id'], ['builds.id'], name=op.f('fk_build_artifacts_build_id_builds')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_build_artifacts')),
    sa.UniqueConstraint('storage_key', name=op.f('uq_build_artifacts_storage_key'))
    )
    op.create_index('ix_build_artifacts_live', 'build_artifacts', ['id'], unique=False, postgresql_where=sa.text('soft_deleted_at IS NULL'))
    op.create_index('ix_build_artifacts_project_recent', 'build_artifacts', ['project_id', sa.literal_column('created_at DESC'), sa.literal_column('id DESC')], unique=False)
    op.execute(REFUSE_MUTATION)
    for table in APPEND_ONLY:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION sheen_refuse_mutation()"
        )


def downgrade() -> None:
    for table in APPEND_ONLY:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
    op.execute("DROP FUNCTION IF EXISTS sheen_refuse_mutation()")
    op.drop_index('ix_build_artifacts_project_recent', table_name='build_artifacts')
    op.drop_index('ix_build_artifacts_live', table_name='build_artifacts', postgresql_where=sa.text('soft_deleted_at IS NULL'))
    op.drop_table('build_artifacts')
    op.drop_index('ix_builds_live_heartbeat', table_name='builds', postgresql_where=sa.text("status IN ('queued', 'building')"))
    op.drop_table('builds')
    op.drop_table('ai_time_balances')
    op.drop_index('ix_usage_events_user_created', table_name='usage_events')
    op.drop_table('usage_events')
    op.drop_index('ix_project_build_events_build', table_name='project_build_events')
    op.drop_table('project_build_events')
    op.drop_table('plans')
    op.drop_index('ix_job_runs_task_id', table_name='job_runs')
    op.drop_index('ix_job_runs_started', table_name='job_runs')
    op.drop_index('ix_job_runs_job_started', table_name='job_runs')
    op.drop_table('job_runs')
    op.drop_table('users', schema='auth')
    op.execute("DROP SCHEMA IF EXISTS auth")
