-- name: hourly_runs
-- Runs and failures (failure, timeout) per job and UTC hour since :since, from the
-- trigger-kept roll-up (migration 0003): at most jobs x 168 rows for 7 days.
SELECT job, hour, sum(runs) AS runs,
       sum(runs) FILTER (WHERE status IN ('failure', 'timeout')) AS failures
FROM job_run_rollups
WHERE hour >= :since
GROUP BY job, hour
HAVING sum(runs) <> 0;
