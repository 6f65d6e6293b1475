-- Retention of the hourly job_runs roll-up (job_run_rollups, kept by triggers, 0003).

-- name: prune_rollups
-- One batch of roll-up rows for hours before :before, oldest first, by ix_job_run_rollups_hour.
-- Deleting is idempotent: a rerun (or a resumed run) finds fewer or no rows.
WITH old AS (
    SELECT job, hour, status, bucket
    FROM job_run_rollups
    WHERE hour < :before
    ORDER BY hour
    LIMIT :batch_size
),
gone AS (
    DELETE FROM job_run_rollups AS r
    USING old
    WHERE r.job = old.job AND r.hour = old.hour AND r.status = old.status AND r.bucket = old.bucket
    RETURNING 1
)
SELECT count(*) AS deleted FROM gone;
