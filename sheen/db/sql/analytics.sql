-- Migration analytics: the five events (one INSERT each, a duplicate is a no-op) and the
-- roll-up reads (everyone: the trigger-kept daily table; one user: that user's events).

-- name: insert_event
-- One event; a redelivery of the same (task, type, attempt, step) writes nothing.
INSERT INTO migration_analytics_events
    (event_type, migration_id, user_id, task_id, job, step, attempt, duration_seconds,
     ai_seconds, error_class, request_id, trace_id, service, environment, region, metadata)
VALUES
    (:event_type, :migration_id, :user_id, :task_id, :job, :step, :attempt, :duration_seconds,
     :ai_seconds, :error_class, :request_id, :trace_id, :service, :environment, :region,
     CAST(:metadata AS jsonb))
ON CONFLICT (task_id, event_type, attempt, step) DO NOTHING
RETURNING id

-- name: insert_outcome
-- `completed` or `failed`: the whole migration's wall time (since its first `started`,
-- retries and their backoff included; this attempt's own time without one) and its AI
-- seconds (every step of every attempt), read from the task's own events in the same INSERT.
INSERT INTO migration_analytics_events
    (event_type, migration_id, user_id, task_id, job, step, attempt, duration_seconds,
     ai_seconds, error_class, request_id, trace_id, service, environment, region, metadata)
SELECT :event_type, :migration_id, :user_id, :task_id, :job, :step, :attempt,
       coalesce(
           (SELECT extract(epoch FROM clock_timestamp() - min(s.occurred_at))::double precision
            FROM migration_analytics_events s
            WHERE s.task_id = :task_id AND s.event_type = 'started'),
           :duration_seconds),
       :ai_seconds + coalesce(
           (SELECT sum(s.ai_seconds) FROM migration_analytics_events s
            WHERE s.task_id = :task_id AND s.event_type = 'step_completed'), 0),
       :error_class, :request_id, :trace_id, :service, :environment, :region,
       CAST(:metadata AS jsonb)
ON CONFLICT (task_id, event_type, attempt, step) DO NOTHING
RETURNING id

-- name: events_for_task
SELECT event_type, migration_id, user_id, task_id, job, step, attempt, duration_seconds,
       ai_seconds, error_class, request_id, trace_id, service, environment, region, metadata,
       occurred_at
FROM migration_analytics_events
WHERE task_id = :task_id
ORDER BY id

-- name: rollup_everyone
-- A few rows per day, type, step and duration bucket (migration_analytics_daily).
SELECT day, event_type, step, bucket, events, duration_seconds_sum, ai_seconds_sum
FROM migration_analytics_daily
WHERE day >= :since

-- name: rollup_user
-- The same shape, from one user's events (ix_migration_analytics_events_user_occurred).
SELECT (occurred_at AT TIME ZONE 'UTC')::date AS day, event_type, step,
       sheen_analytics_bucket(duration_seconds) AS bucket, count(*) AS events,
       coalesce(sum(duration_seconds), 0) AS duration_seconds_sum,
       sum(ai_seconds) AS ai_seconds_sum
FROM migration_analytics_events
WHERE user_id = :user_id AND occurred_at >= :since_at
GROUP BY 1, 2, 3, 4

-- name: read_only
SET TRANSACTION READ ONLY

-- name: health
-- The last hour of events (block-range index: the newest ranges only).
SELECT max(occurred_at) AS last_event_at, count(*) AS events_last_hour,
       current_user AS role, current_setting('transaction_read_only') AS read_only
FROM migration_analytics_events
WHERE occurred_at >= now() - interval '1 hour'
