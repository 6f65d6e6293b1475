-- name: fail_ghost_builds
-- One keyset batch of live builds: those silent since before :cutoff fail with reason 'ghost',
-- their reserved AI time goes back to the user's balance, and both audit tables record it.
-- The status re-check in the UPDATE makes a second run (or a concurrent one) a no-op.
WITH batch AS (
    SELECT id
    FROM builds
    WHERE status IN ('queued', 'building') AND id > :after
    ORDER BY id
    LIMIT :batch_size
),
ghosts AS (
    UPDATE builds AS b
    SET status = 'failed',
        failure_reason = 'ghost',
        finished_at = :as_of,
        refunded_ai_seconds = b.reserved_ai_seconds,
        reserved_ai_seconds = 0
    FROM batch
    WHERE b.id = batch.id
      AND b.status IN ('queued', 'building')
      AND COALESCE(b.last_heartbeat_at, b.started_at, b.created_at) < :cutoff
    RETURNING b.id, b.project_id, b.user_id, b.refunded_ai_seconds AS refund,
              COALESCE(b.last_heartbeat_at, b.started_at, b.created_at) AS last_seen
),
refunds AS (
    UPDATE ai_time_balances AS bal
    SET daily_used_seconds = GREATEST(bal.daily_used_seconds - r.total, 0), updated_at = now()
    FROM (SELECT user_id, sum(refund) AS total FROM ghosts WHERE refund > 0 GROUP BY user_id) AS r
    WHERE bal.user_id = r.user_id
    RETURNING bal.user_id
),
usage AS (
    INSERT INTO usage_events (user_id, kind, seconds, period, build_id)
    SELECT user_id, 'ghost_refund', refund, :period, id FROM ghosts WHERE refund > 0
),
events AS (
    INSERT INTO project_build_events (project_id, build_id, user_id, event, reason, details)
    SELECT project_id, id, user_id, 'failed', 'ghost',
           jsonb_build_object('refunded_ai_seconds', refund, 'last_seen_at', last_seen,
                              'period', CAST(:period AS text))
    FROM ghosts
)
SELECT (SELECT id FROM batch ORDER BY id DESC LIMIT 1) AS last_key,
       (SELECT count(*) FROM ghosts) AS affected,
       (SELECT count(*) FROM refunds) AS refunded_users;
