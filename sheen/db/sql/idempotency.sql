-- name: mark_done
-- Take the key's done-mark inside the task's own transaction. A second copy of the key
-- blocks here until the first commits (then inserts nothing: already done) or rolls back.
INSERT INTO job_done_keys (job, idempotency_key, task_id)
VALUES (:job, :key, :task_id)
ON CONFLICT (job, idempotency_key) DO NOTHING
RETURNING task_id;

-- name: is_done
-- Whether the key's effect committed (the truth behind the Redis done-set).
SELECT EXISTS (
    SELECT 1 FROM job_done_keys WHERE job = :job AND idempotency_key = :key
) AS done;

-- name: prune_done
-- One batch of done-marks older than the retention: bounded by time, not by count.
WITH old AS (
    SELECT job, idempotency_key FROM job_done_keys
    WHERE done_at < :before
    ORDER BY done_at
    LIMIT :batch_size
),
gone AS (
    DELETE FROM job_done_keys AS d USING old
    WHERE d.job = old.job AND d.idempotency_key = old.idempotency_key
    RETURNING 1
)
SELECT count(*) AS deleted FROM gone;
