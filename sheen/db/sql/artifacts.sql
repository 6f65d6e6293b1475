-- name: soft_delete_stale_artifacts
-- One keyset batch of live artifacts: those created before :cutoff that are not among the
-- :keep latest of their project get soft_deleted_at = :as_of and a cleanup_audit_log row.
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
    RETURNING a.id, a.sha256, a.storage_key
),
audited AS (
    INSERT INTO cleanup_audit_log (artifact_id, action, sha256, storage_key, job, effective_at)
    SELECT id, 'soft_delete', sha256, storage_key, :job, :as_of FROM deleted ORDER BY id
)
SELECT (SELECT id FROM batch ORDER BY id DESC LIMIT 1) AS last_key,
       (SELECT count(*) FROM deleted) AS affected;

-- name: due_for_cold
-- One keyset batch of artifacts soft-deleted on or before :cutoff and not yet in cold storage.
SELECT id, storage_key, sha256
FROM build_artifacts
WHERE soft_deleted_at IS NOT NULL AND moved_to_cold_at IS NULL AND purged_at IS NULL
  AND soft_deleted_at <= :cutoff AND id > :after
ORDER BY id
LIMIT :batch_size;

-- name: mark_moved
-- Record verified cold copies (parallel arrays) and audit each move; a row moved already,
-- restored meanwhile or purged is left alone, so a rerun is a no-op. Returns the moved ids.
WITH input AS (
    SELECT * FROM unnest(CAST(:ids AS uuid[]), CAST(:cold_keys AS text[])) AS t(id, cold_key)
),
moved AS (
    UPDATE build_artifacts AS a
    SET cold_storage_key = input.cold_key, moved_to_cold_at = :as_of
    FROM input
    WHERE a.id = input.id AND a.moved_to_cold_at IS NULL AND a.purged_at IS NULL
      AND a.soft_deleted_at IS NOT NULL
    RETURNING a.id, a.sha256, a.storage_key, a.cold_storage_key
),
audited AS (
    INSERT INTO cleanup_audit_log (artifact_id, action, sha256, storage_key, cold_storage_key,
                                   job, effective_at)
    SELECT id, 'move_to_cold', sha256, storage_key, cold_storage_key, :job, :as_of
    FROM moved ORDER BY id
)
SELECT id FROM moved;

-- name: lock_hot_pending
-- Moved artifacts whose hot object is still there, locked until their hot delete commits
-- (a concurrent restore waits, then finds the row as this transaction left it).
SELECT id, storage_key
FROM build_artifacts
WHERE moved_to_cold_at IS NOT NULL AND hot_deleted_at IS NULL AND purged_at IS NULL
  AND (CAST(:ids AS uuid[]) IS NULL OR id = ANY(CAST(:ids AS uuid[])))
  AND id > :after
ORDER BY id
LIMIT :batch_size
FOR UPDATE;

-- name: mark_hot_deleted
UPDATE build_artifacts SET hot_deleted_at = :now
WHERE id = ANY(CAST(:ids AS uuid[])) AND hot_deleted_at IS NULL;

-- name: lock_due_for_purge
-- One keyset batch of cold artifacts moved on or before :cutoff, locked; `shared` says
-- another unpurged artifact outside this batch still refers to the same content.
WITH batch AS (
    SELECT id, sha256, storage_key, cold_storage_key
    FROM build_artifacts
    WHERE moved_to_cold_at IS NOT NULL AND purged_at IS NULL AND soft_deleted_at IS NOT NULL
      AND moved_to_cold_at <= :cutoff AND id > :after
    ORDER BY id
    LIMIT :batch_size
    FOR UPDATE
)
SELECT b.id, b.sha256, b.storage_key, b.cold_storage_key,
       EXISTS (
           SELECT 1 FROM build_artifacts AS o
           WHERE o.sha256 = b.sha256 AND o.purged_at IS NULL
             AND o.id NOT IN (SELECT id FROM batch)
       ) AS shared
FROM batch AS b
ORDER BY b.id;

-- name: mark_purged
WITH purged AS (
    UPDATE build_artifacts AS a
    SET purged_at = :as_of
    WHERE a.id = ANY(CAST(:ids AS uuid[])) AND a.purged_at IS NULL
      AND a.moved_to_cold_at IS NOT NULL AND a.soft_deleted_at IS NOT NULL
    RETURNING a.id, a.sha256, a.storage_key, a.cold_storage_key
),
audited AS (
    INSERT INTO cleanup_audit_log (artifact_id, action, sha256, storage_key, cold_storage_key,
                                   job, effective_at)
    SELECT id, 'purge', sha256, storage_key, cold_storage_key, :job, :as_of
    FROM purged ORDER BY id
)
SELECT count(*) AS purged FROM purged;

-- name: lock_artifact
SELECT id, storage_key, sha256, soft_deleted_at, cold_storage_key, moved_to_cold_at,
       hot_deleted_at, purged_at
FROM build_artifacts WHERE id = :id
FOR UPDATE;

-- name: get_artifact
SELECT id, project_id, build_id, storage_key, sha256, size_bytes, created_at, soft_deleted_at,
       cold_storage_key, moved_to_cold_at, hot_deleted_at, purged_at
FROM build_artifacts WHERE id = :id;

-- name: mark_restored
-- The artifact is live again, in the hot bucket only as far as its row is concerned.
UPDATE build_artifacts
SET soft_deleted_at = NULL, moved_to_cold_at = NULL, cold_storage_key = NULL,
    hot_deleted_at = NULL
WHERE id = :id AND purged_at IS NULL AND soft_deleted_at IS NOT NULL;

-- name: record_recovery
INSERT INTO artifact_recovery_log (artifact_id, actor, task_id, source, outcome, reason, dry_run,
                                   expected_sha256, actual_sha256)
VALUES (:artifact_id, :actor, :task_id, :source, :outcome, :reason, :dry_run,
        :expected_sha256, :actual_sha256);

-- name: cleanup_history
SELECT chain_seq, action, job, effective_at, created_at, cold_storage_key
FROM cleanup_audit_log WHERE artifact_id = :id ORDER BY chain_seq;

-- name: recovery_history
SELECT chain_seq, actor, source, outcome, reason, dry_run, expected_sha256, actual_sha256,
       created_at
FROM artifact_recovery_log WHERE artifact_id = :id ORDER BY chain_seq;
