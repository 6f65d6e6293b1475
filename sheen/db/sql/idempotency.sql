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

-- name: task_finished
-- Whether a task id's work finished: a run recorded success or skipped, or its done-mark
-- committed (the run row may still say `running` if the database went away after it).
SELECT EXISTS (
    SELECT 1 FROM job_runs WHERE task_id = :task_id AND status IN ('success', 'skipped')
) OR EXISTS (
    SELECT 1 FROM job_done_keys WHERE task_id = :task_id
) AS finished;

-- name: keys_done
-- Of the given (job, key) pairs, those whose work is done: a done-mark, or a successful run.
SELECT k.job, k.key
FROM unnest(CAST(:jobs AS text[]), CAST(:keys AS text[])) AS k(job, key)
WHERE EXISTS (SELECT 1 FROM job_done_keys d WHERE d.job = k.job AND d.idempotency_key = k.key)
   OR EXISTS (SELECT 1 FROM job_runs r
              WHERE r.job = k.job AND r.idempotency_key = k.key AND r.status = 'success');
