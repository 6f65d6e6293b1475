-- Read-only queries behind the sidecar overview, server health and the metrics seed.
-- Every one is bounded by an index: (job, started_at DESC), (started_at) or the roll-up's hour.

-- name: job_names
-- Distinct job names by skip scan over ix_job_runs_job_started: one index probe per job.
WITH RECURSIVE names AS (
    (SELECT job FROM job_runs ORDER BY job LIMIT 1)
    UNION ALL
    SELECT (SELECT r.job FROM job_runs r WHERE r.job > names.job ORDER BY r.job LIMIT 1)
    FROM names WHERE names.job IS NOT NULL
)
SELECT job FROM names WHERE job IS NOT NULL;

-- name: last_runs
-- The latest run of each named job: one probe of ix_job_runs_job_started each. `job >= x AND
-- job <= x` (not `job = x`) keeps the ORDER BY on both columns, which only that index serves;
-- with `=` the planner walks ix_job_runs_started backwards and filters, which reads the whole
-- table for a job that never ran (1.3 s at 1,000,000 rows).
SELECT j.job, r.status, r.started_at, r.finished_at, r.duration_seconds, r.task_id
FROM unnest(CAST(:jobs AS text[])) AS j(job)
CROSS JOIN LATERAL (
    SELECT status, started_at, finished_at, duration_seconds, task_id
    FROM job_runs WHERE job_runs.job >= j.job AND job_runs.job <= j.job
    ORDER BY job_runs.job, job_runs.started_at DESC LIMIT 1
) r;

-- name: job_rollup
-- Runs since :since (an hour boundary) per job, status and duration bucket, from the
-- trigger-kept hourly roll-up (migration 0003): a few hundred rows for any traffic.
SELECT job, status, bucket, sum(runs) AS runs
FROM job_run_rollups
WHERE hour >= :since
GROUP BY job, status, bucket
HAVING sum(runs) <> 0;

-- name: queue_wait
-- Per queue since :since: P95 publish-to-start latency (deliberate delays are NULL, so left out).
SELECT queue,
       count(queue_wait_seconds) AS starts,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY queue_wait_seconds) AS p95_wait_seconds
FROM job_runs
WHERE started_at >= :since AND queue IS NOT NULL
GROUP BY queue;

-- name: last_success_times
-- Unix time of the last success of each named job, for the dead-man gauge after a restart.
SELECT j.job, extract(epoch FROM r.finished_at) AS finished_at
FROM unnest(CAST(:jobs AS text[])) AS j(job)
CROSS JOIN LATERAL (
    SELECT finished_at FROM job_runs
    WHERE job_runs.job >= j.job AND job_runs.job <= j.job
      AND status = 'success' AND finished_at IS NOT NULL
    ORDER BY job_runs.job, job_runs.started_at DESC LIMIT 1
) r;

-- name: region_figures
-- Per region since :since: dequeue P95 (queue wait), start latency P95 (publish to the start
-- of the attempt that ran, retry back-off included), runtime P95, success ratio, running now.
WITH recent AS (
    SELECT region, task_id, attempt, status, started_at, duration_seconds, queue_wait_seconds
    FROM job_runs WHERE started_at >= :since
), per_task AS (
    SELECT region, task_id,
           extract(epoch FROM max(started_at) - min(started_at))
             + coalesce(max(queue_wait_seconds) FILTER (WHERE attempt = 1), min(queue_wait_seconds), 0)
             AS start_latency_seconds
    FROM recent GROUP BY region, task_id
), latency AS (
    SELECT region, percentile_cont(0.95) WITHIN GROUP (ORDER BY start_latency_seconds) AS p95
    FROM per_task GROUP BY region
)
SELECT r.region,
       count(*) AS runs,
       count(*) FILTER (WHERE status IN ('success', 'failure', 'timeout')) AS finished,
       count(*) FILTER (WHERE status = 'success') AS successes,
       count(*) FILTER (WHERE status = 'running') AS running,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY queue_wait_seconds) AS dequeue_p95_seconds,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_seconds)
           FILTER (WHERE status IN ('success', 'failure', 'timeout')) AS runtime_p95_seconds,
       max(l.p95) AS start_latency_p95_seconds
FROM recent r LEFT JOIN latency l USING (region)
GROUP BY r.region
ORDER BY r.region;
