"""Job-run roll-up: hourly counts per job, status and duration bucket, kept by triggers.

The sidecar overview reads 24 h of figures from here (a few hundred rows) instead of
aggregating every raw run in the window. Triggers keep it exact: an inserted run adds
one, an update moves the run from its old (status, bucket) to its new one, a delete
removes it, TRUNCATE of job_runs empties it. Existing runs are backfilled.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 20:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Upper bounds (seconds) of the duration buckets; sheen.services.overview.ROLLUP_BOUNDS
# must say the same (a test compares them). Bucket -1: no duration (running).
BOUNDS = "0.01,0.05,0.1,0.25,0.5,1,2.5,5,10,30,60,120,300,600,900,1800"

FUNCTIONS = f"""
CREATE FUNCTION sheen_duration_bucket(seconds double precision) RETURNS smallint
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN seconds IS NULL THEN -1
                ELSE width_bucket(seconds, ARRAY[{BOUNDS}]::double precision[]) END::smallint
$$;

CREATE FUNCTION sheen_utc_hour(t timestamptz) RETURNS timestamptz
LANGUAGE sql IMMUTABLE AS $$ SELECT date_trunc('hour', t AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' $$;

CREATE FUNCTION sheen_job_runs_rollup() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND OLD.job = NEW.job AND OLD.status = NEW.status AND OLD.started_at = NEW.started_at
       AND sheen_duration_bucket(OLD.duration_seconds) = sheen_duration_bucket(NEW.duration_seconds)
    THEN
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO job_run_rollups AS r (job, hour, status, bucket, runs)
        VALUES (OLD.job, sheen_utc_hour(OLD.started_at), OLD.status,
                sheen_duration_bucket(OLD.duration_seconds), -1)
        ON CONFLICT (job, hour, status, bucket) DO UPDATE SET runs = r.runs - 1;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO job_run_rollups AS r (job, hour, status, bucket, runs)
        VALUES (NEW.job, sheen_utc_hour(NEW.started_at), NEW.status,
                sheen_duration_bucket(NEW.duration_seconds), 1)
        ON CONFLICT (job, hour, status, bucket) DO UPDATE SET runs = r.runs + 1;
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION sheen_job_runs_rollup_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE job_run_rollups;
    RETURN NULL;
END $$;
"""


def upgrade() -> None:
    op.create_table(
        "job_run_rollups",
        sa.Column("job", sa.Text(), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("bucket", sa.SmallInteger(), nullable=False),
        sa.Column("runs", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.PrimaryKeyConstraint("job", "hour", "status", "bucket", name="pk_job_run_rollups"),
    )
    op.create_index("ix_job_run_rollups_hour", "job_run_rollups", ["hour"])
    op.execute(FUNCTIONS)
    op.execute(
        "CREATE TRIGGER job_runs_rollup AFTER INSERT OR UPDATE OR DELETE ON job_runs "
        "FOR EACH ROW EXECUTE FUNCTION sheen_job_runs_rollup()"
    )
    op.execute(
        "CREATE TRIGGER job_runs_rollup_truncate AFTER TRUNCATE ON job_runs "
        "FOR EACH STATEMENT EXECUTE FUNCTION sheen_job_runs_rollup_truncate()"
    )
    op.execute(
        "INSERT INTO job_run_rollups (job, hour, status, bucket, runs) "
        "SELECT job, sheen_utc_hour(started_at), status, sheen_duration_bucket(duration_seconds), "
        "count(*) FROM job_runs GROUP BY 1, 2, 3, 4"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS job_runs_rollup_truncate ON job_runs")
    op.execute("DROP TRIGGER IF EXISTS job_runs_rollup ON job_runs")
    op.execute("DROP FUNCTION IF EXISTS sheen_job_runs_rollup_truncate()")
    op.execute("DROP FUNCTION IF EXISTS sheen_job_runs_rollup()")
    op.execute("DROP FUNCTION IF EXISTS sheen_utc_hour(timestamptz)")
    op.execute("DROP FUNCTION IF EXISTS sheen_duration_bucket(double precision)")
    op.drop_index("ix_job_run_rollups_hour", table_name="job_run_rollups")
    op.drop_table("job_run_rollups")
