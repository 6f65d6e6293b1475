-- name: plans
-- The two demo plans (allowance, daily bonus, monthly bonus cap in seconds).
INSERT INTO plans (name, daily_allowance_seconds, daily_bonus_seconds, monthly_bonus_cap_seconds)
VALUES ('free', 1800, 300, 3000), ('pro', 18000, 1800, 30000)
ON CONFLICT (name) DO NOTHING;

-- name: users
-- :users users with deterministic ids (a rerun adds nothing), every fifth on the pro plan.
INSERT INTO auth.users (id, created_at)
SELECT md5('sheen-demo-user-' || i)::uuid, now() - (i % 90) * interval '1 day'
FROM generate_series(1, :users) AS i
ON CONFLICT (id) DO NOTHING;

-- name: balances
-- Yesterday's usage on every demo balance, so the daily reset and the bonus reset have work.
INSERT INTO ai_time_balances (user_id, plan, daily_used_seconds, usage_day, daily_bonus_seconds,
                              bonus_day, monthly_bonus_used_seconds)
SELECT md5('sheen-demo-user-' || i)::uuid, CASE WHEN i % 5 = 0 THEN 'pro' ELSE 'free' END,
       (i * 37) % 1800, CURRENT_DATE - 1, 0, CURRENT_DATE - 1, (i * 11) % 600
FROM generate_series(1, :users) AS i
ON CONFLICT (user_id) DO UPDATE
SET daily_used_seconds = EXCLUDED.daily_used_seconds, usage_day = EXCLUDED.usage_day,
    bonus_day = EXCLUDED.bonus_day, daily_bonus_seconds = 0;

-- name: builds
-- One build per demo user: every third is live (heartbeat now), every third silent for an
-- hour (ghost detection fails it and refunds its reserved time), the rest deployed.
INSERT INTO builds (id, project_id, user_id, status, created_at, started_at, last_heartbeat_at,
                    finished_at, reserved_ai_seconds)
SELECT md5('sheen-demo-build-' || i)::uuid, md5('sheen-demo-project-' || i)::uuid,
       md5('sheen-demo-user-' || i)::uuid,
       CASE WHEN i % 3 = 2 THEN 'deployed' ELSE 'building' END,
       now() - interval '2 hours', now() - interval '2 hours',
       CASE i % 3 WHEN 0 THEN now() WHEN 1 THEN now() - interval '1 hour' END,
       CASE WHEN i % 3 = 2 THEN now() - interval '90 minutes' END,
       60 + i % 240
FROM generate_series(1, :users) AS i
ON CONFLICT (id) DO UPDATE
SET status = EXCLUDED.status, last_heartbeat_at = EXCLUDED.last_heartbeat_at,
    finished_at = EXCLUDED.finished_at, failure_reason = NULL, refunded_ai_seconds = 0;

-- name: artifacts
-- For every tenth demo user's project: 8 artifacts, 40..47 days old (older than the
-- retention, more than the latest 5 kept), so the cleanup soft-deletes three per project.
INSERT INTO build_artifacts (id, project_id, build_id, storage_key, sha256, size_bytes, created_at)
SELECT md5('sheen-demo-artifact-' || i || '-' || n)::uuid, md5('sheen-demo-project-' || i)::uuid,
       md5('sheen-demo-build-' || i)::uuid,
       'artifacts/demo/' || i || '/' || n,
       encode(sha256(convert_to('sheen-demo-artifact-' || i || '-' || n, 'UTF8')), 'hex'),
       1024 * n, now() - (39 + n) * interval '1 day'
FROM generate_series(1, :users) AS i, generate_series(1, 8) AS n
WHERE i % 10 = 0
ON CONFLICT (id) DO NOTHING;

-- name: counts
-- What the demo data holds now (printed by `sheen-ops dev seed`).
SELECT (SELECT count(*) FROM auth.users) AS users,
       (SELECT count(*) FROM ai_time_balances) AS balances,
       (SELECT count(*) FROM builds WHERE status IN ('queued', 'building')) AS live_builds,
       (SELECT count(*) FROM builds
         WHERE status IN ('queued', 'building') AND last_heartbeat_at < now() - interval '15 minutes')
           AS silent_builds,
       (SELECT count(*) FROM build_artifacts
         WHERE soft_deleted_at IS NULL AND created_at < now() - interval '30 days') AS old_artifacts;
