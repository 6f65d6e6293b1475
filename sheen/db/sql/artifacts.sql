-- name: soft_delete_stale_artifacts
-- One keyset batch of live artifacts: those created before :cutoff that are not among the
-- :keep latest of their project get soft_deleted_at = :as_of (cold storage and purge follow).
WITH batch AS (
    SELECT id, project_id, created_at
    FROM build_artifacts
    WHERE soft_deleted_at IS NULL AND id > :after
    ORDER BY id
    LIMIT :batch_size
),
stale AS (
    SELECT batch.id
    FROM batch
    WHERE batch.created_at < :cutoff
      AND (SELECT count(*) FROM (
              SELECT 1 FROM build_artifacts AS n
              WHERE n.project_id = batch.project_id
                AND (n.created_at, n.id) > (batch.created_at, batch.id)
              LIMIT :keep) AS newer) >= :keep
),
deleted AS (
    UPDATE build_artifacts AS a
    SET soft_deleted_at = :as_of
    FROM stale
    WHERE a.id = stale.id AND a.soft_deleted_at IS NULL
    RETURNING a.id
)
SELECT (SELECT id FROM batch ORDER BY id DESC LIMIT 1) AS last_key,
       (SELECT count(*) FROM deleted) AS affected;
