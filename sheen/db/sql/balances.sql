-- name: reset_daily_usage
-- One keyset batch: usage back to zero for :day where the row still counts an earlier day.
-- Rows already on :day are untouched, so a second run (or a resumed one) changes nothing.
WITH batch AS (
    SELECT user_id, daily_used_seconds
    FROM ai_time_balances
    WHERE user_id > :after
    ORDER BY user_id
    LIMIT :batch_size
),
reset AS (
    UPDATE ai_time_balances AS b
    SET daily_used_seconds = 0, usage_day = :day, updated_at = now()
    FROM batch
    WHERE b.user_id = batch.user_id AND b.usage_day < :day
      -- the batch's key range too: the planner then reads only those rows of the primary key
      -- instead of hashing the whole table for every batch (docs/benchmarks.md: the job went
      -- from 1.76x to 1.14x of one plain UPDATE at 1,000,000 rows)
      AND b.user_id > :after AND b.user_id <= (SELECT user_id FROM batch ORDER BY user_id DESC LIMIT 1)
    RETURNING b.user_id, batch.daily_used_seconds AS used
),
audit AS (
    INSERT INTO usage_events (user_id, kind, seconds, period)
    SELECT user_id, 'daily_reset', used, :period FROM reset WHERE used > 0
)
SELECT (SELECT user_id FROM batch ORDER BY user_id DESC LIMIT 1) AS last_key,
       (SELECT count(*) FROM reset) AS affected;

-- name: reset_daily_bonus
-- One keyset batch: daily bonus back to the plan's amount for :day, capped by what is left
-- of the plan's monthly bonus (the monthly count restarts when :day is in a new month).
-- The new values are computed in SET from the row as locked, never from the batch's
-- snapshot, so bonus spent concurrently is not overwritten (no lost update).
WITH batch AS (
    SELECT user_id
    FROM ai_time_balances
    WHERE user_id > :after
    ORDER BY user_id
    LIMIT :batch_size
),
granted AS (
    UPDATE ai_time_balances AS b
    SET monthly_bonus_used_seconds =
            CASE WHEN date_trunc('month', b.bonus_day) < date_trunc('month', CAST(:day AS date))
                 THEN 0 ELSE b.monthly_bonus_used_seconds END,
        daily_bonus_seconds = LEAST(
            p.daily_bonus_seconds,
            GREATEST(p.monthly_bonus_cap_seconds
                     - CASE WHEN date_trunc('month', b.bonus_day) < date_trunc('month', CAST(:day AS date))
                            THEN 0 ELSE b.monthly_bonus_used_seconds END, 0)),
        bonus_day = :day,
        updated_at = now()
    FROM batch, plans AS p
    WHERE b.user_id = batch.user_id AND p.name = b.plan AND b.bonus_day < :day
      AND b.user_id > :after AND b.user_id <= (SELECT user_id FROM batch ORDER BY user_id DESC LIMIT 1)  -- as above
    RETURNING b.user_id, b.daily_bonus_seconds AS bonus
),
audit AS (
    INSERT INTO usage_events (user_id, kind, seconds, period)
    SELECT user_id, 'bonus_reset', bonus, :period FROM granted
)
SELECT (SELECT user_id FROM batch ORDER BY user_id DESC LIMIT 1) AS last_key,
       (SELECT count(*) FROM granted) AS affected;
