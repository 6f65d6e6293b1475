"""Migration analytics events and the dashboard role.

Events are append-only (UPDATE/DELETE refused). A row trigger folds each inserted event
into `migration_analytics_daily` (per UTC day, type, step and duration bucket), which the
everyone roll-up reads; TRUNCATE of the events empties it. The read-only role
`sheen_analytics_reader` (NOLOGIN: grant it to a login role, or SET ROLE to it) is
created when absent and may only SELECT the two tables. job_runs gains the W3C trace
id and the producer's request id.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 10:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EVENTS = "migration_analytics_events"
DAILY = "migration_analytics_daily"
READER = "sheen_analytics_reader"

# Duration buckets: bucket b holds [1 ms * 1.05^b, 1 ms * 1.05^(b+1)); sheen.analytics.rollup
# says the same (BUCKET_BASE, BUCKET_GROWTH). -1: no duration.
FUNCTIONS = f"""
CREATE FUNCTION sheen_analytics_bucket(seconds double precision) RETURNS smallint
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN seconds IS NULL THEN -1
                WHEN seconds <= 0.001 THEN 0
                ELSE least(floor(ln(seconds / 0.001) / ln(1.05)), 32000) END::smallint
$$;

CREATE FUNCTION sheen_analytics_daily() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO {DAILY} AS d (day, event_type, step, bucket, events, duration_seconds_sum,
                              ai_seconds_sum)
    VALUES ((NEW.occurred_at AT TIME ZONE 'UTC')::date, NEW.event_type, NEW.step,
            sheen_analytics_bucket(NEW.duration_seconds), 1,
            coalesce(NEW.duration_seconds, 0), NEW.ai_seconds)
    ON CONFLICT (day, event_type, step, bucket) DO UPDATE
        SET events = d.events + 1,
            duration_seconds_sum = d.duration_seconds_sum + EXCLUDED.duration_seconds_sum,
            ai_seconds_sum = d.ai_seconds_sum + EXCLUDED.ai_seconds_sum;
    RETURN NULL;
END $$;

CREATE FUNCTION sheen_analytics_daily_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE {DAILY};
    RETURN NULL;
END $$;
"""

ROLE = f"""
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{READER}') THEN
        CREATE ROLE {READER} NOLOGIN;
    END IF;
END $$;
"""


def upgrade() -> None:
    op.add_column("job_runs", sa.Column("trace_id", sa.Text()))
    op.add_column("job_runs", sa.Column("request_id", sa.Text()))
    op.create_table(
        EVENTS,
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("event_type", sa.Text(), nullable=False),
        sa.Column("migration_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("task_id", sa.Text(), nullable=False),
        sa.Column("job", sa.Text(), nullable=False),
        sa.Column("step", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("attempt", sa.SmallInteger(), nullable=False),
        sa.Column("duration_seconds", sa.Float()),
        sa.Column("ai_seconds", sa.Float(), server_default=sa.text("0"), nullable=False),
        sa.Column("error_class", sa.Text()),
        sa.Column("request_id", sa.Text()),
        sa.Column("trace_id", sa.Text()),
        sa.Column("service", sa.Text(), nullable=False),
        sa.Column("environment", sa.Text(), nullable=False),
        sa.Column("region", sa.Text(), nullable=False),
        sa.Column(
            "metadata",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "occurred_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "event_type IN ('started', 'step_completed', 'retry', 'completed', 'failed')",
            name=f"ck_{EVENTS}_event_type_known",
        ),
        sa.CheckConstraint("step ~ '^([a-z][a-z0-9_]{0,63})?$'", name=f"ck_{EVENTS}_step_token"),
        sa.CheckConstraint(
            "event_type <> 'step_completed' OR step <> ''", name=f"ck_{EVENTS}_step_named"
        ),
        sa.CheckConstraint("attempt >= 1", name=f"ck_{EVENTS}_attempt_positive"),
        sa.CheckConstraint(
            "(duration_seconds IS NULL OR duration_seconds >= 0) AND ai_seconds >= 0",
            name=f"ck_{EVENTS}_non_negative",
        ),
        sa.CheckConstraint(
            "error_class IS NULL OR error_class ~ '^[A-Za-z_][A-Za-z0-9_.]{0,199}$'",
            name=f"ck_{EVENTS}_error_class_token",
        ),
        sa.CheckConstraint(
            "event_type <> 'failed' OR error_class IS NOT NULL",
            name=f"ck_{EVENTS}_failed_has_error",
        ),
        sa.CheckConstraint(
            "request_id IS NULL OR request_id ~ '^[A-Za-z0-9._:-]{1,128}$'",
            name=f"ck_{EVENTS}_request_id_token",
        ),
        sa.CheckConstraint(
            "trace_id IS NULL OR trace_id ~ '^[0-9a-f]{32}$'", name=f"ck_{EVENTS}_trace_id_hex"
        ),
        sa.CheckConstraint(
            "jsonb_typeof(metadata) = 'object'", name=f"ck_{EVENTS}_metadata_object"
        ),
        sa.ForeignKeyConstraint(["user_id"], ["auth.users.id"], name=f"fk_{EVENTS}_user_id_users"),
        sa.PrimaryKeyConstraint("id", name=f"pk_{EVENTS}"),
        sa.UniqueConstraint(
            "task_id",
            "event_type",
            "attempt",
            "step",
            name=f"uq_{EVENTS}_task_id_event_type_attempt_step",
        ),
    )
    op.create_index(f"ix_{EVENTS}_occurred_brin", EVENTS, ["occurred_at"], postgresql_using="brin")
    op.create_index(f"ix_{EVENTS}_user_occurred", EVENTS, ["user_id", "occurred_at"])
    op.create_index(f"ix_{EVENTS}_migration_occurred", EVENTS, ["migration_id", "occurred_at"])
    op.create_table(
        DAILY,
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("event_type", sa.Text(), nullable=False),
        sa.Column("step", sa.Text(), nullable=False),
        sa.Column("bucket", sa.SmallInteger(), nullable=False),
        sa.Column("events", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("duration_seconds_sum", sa.Float(), server_default=sa.text("0"), nullable=False),
        sa.Column("ai_seconds_sum", sa.Float(), server_default=sa.text("0"), nullable=False),
        sa.PrimaryKeyConstraint("day", "event_type", "step", "bucket", name=f"pk_{DAILY}"),
    )
    op.execute(FUNCTIONS)
    op.execute(
        f"CREATE TRIGGER {EVENTS}_daily AFTER INSERT ON {EVENTS} "
        "FOR EACH ROW EXECUTE FUNCTION sheen_analytics_daily()"
    )
    op.execute(
        f"CREATE TRIGGER {EVENTS}_daily_truncate AFTER TRUNCATE ON {EVENTS} "
        "FOR EACH STATEMENT EXECUTE FUNCTION sheen_analytics_daily_truncate()"
    )
    op.execute(
        f"CREATE TRIGGER {EVENTS}_append_only BEFORE UPDATE OR DELETE ON {EVENTS} "
        "FOR EACH ROW EXECUTE FUNCTION sheen_refuse_mutation()"
    )
    op.execute(ROLE)
    op.execute(f"GRANT USAGE ON SCHEMA public TO {READER}")
    op.execute(f"GRANT SELECT ON {EVENTS}, {DAILY} TO {READER}")


def downgrade() -> None:
    # The role is cluster-wide and may hold grants in other databases: it is kept.
    op.execute(f"REVOKE ALL ON {EVENTS}, {DAILY} FROM {READER}")
    op.execute(f"DROP TRIGGER IF EXISTS {EVENTS}_append_only ON {EVENTS}")
    op.execute(f"DROP TRIGGER IF EXISTS {EVENTS}_daily_truncate ON {EVENTS}")
    op.execute(f"DROP TRIGGER IF EXISTS {EVENTS}_daily ON {EVENTS}")
    op.execute("DROP FUNCTION IF EXISTS sheen_analytics_daily_truncate()")
    op.execute("DROP FUNCTION IF EXISTS sheen_analytics_daily()")
    op.execute("DROP FUNCTION IF EXISTS sheen_analytics_bucket(double precision)")
    op.drop_table(DAILY)
    op.drop_index(f"ix_{EVENTS}_migration_occurred", table_name=EVENTS)
    op.drop_index(f"ix_{EVENTS}_user_occurred", table_name=EVENTS)
    op.drop_index(f"ix_{EVENTS}_occurred_brin", table_name=EVENTS)
    op.drop_table(EVENTS)
    op.drop_column("job_runs", "request_id")
    op.drop_column("job_runs", "trace_id")
