-- Site-migration verification: the schema fingerprint's catalogue reads, the results
-- table, run rows, verified releases and the reads behind the CLI and the sidecar.

-- name: fingerprint_search_path
-- Every name in the deparsed definitions comes out schema-qualified.
SET LOCAL search_path = pg_catalog

-- name: fingerprint_tables
SELECT n.nspname, c.relname, c.relkind::text
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY(:schemas) AND c.relkind IN ('r', 'p', 'v', 'm')

-- name: fingerprint_columns
SELECT n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       coalesce(pg_get_expr(d.adbin, d.adrelid), ''), a.attidentity::text, a.attgenerated::text
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE n.nspname = ANY(:schemas) AND c.relkind IN ('r', 'p', 'v', 'm')
  AND a.attnum > 0 AND NOT a.attisdropped

-- name: fingerprint_constraints
SELECT n.nspname, c.relname, k.conname, k.contype::text, pg_get_constraintdef(k.oid, true)
FROM pg_constraint k
JOIN pg_class c ON c.oid = k.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY(:schemas)

-- name: fingerprint_indexes
SELECT n.nspname, c.relname, i.relname, pg_get_indexdef(i.oid)
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_class c ON c.oid = x.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY(:schemas)

-- name: fingerprint_triggers
SELECT n.nspname, c.relname, t.tgname, pg_get_triggerdef(t.oid, true)
FROM pg_trigger t
JOIN pg_class c ON c.oid = t.tgrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY(:schemas) AND NOT t.tgisinternal

-- name: fingerprint_enums
SELECT n.nspname, t.typname, string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder)
FROM pg_type t
JOIN pg_namespace n ON n.oid = t.typnamespace
JOIN pg_enum e ON e.enumtypid = t.oid
WHERE n.nspname = ANY(:schemas)
GROUP BY n.nspname, t.typname

-- name: recorded_paths
-- The files a run already has rows for: a redelivered run fetches only the others.
SELECT path FROM migration_verification_results WHERE run_id = :run_id AND kind = 'file'

-- name: insert_result
-- One row per (run, kind, path): a redelivered batch is a no-op, never a second row.
INSERT INTO migration_verification_results
    (run_id, kind, path, url, domain, environment, commit_sha, status, reason, error,
     expected_sha256, actual_sha256, expected_size, actual_size, http_status, duration_seconds)
VALUES
    (:run_id, :kind, :path, :url, :domain, CAST(:environment AS mvr_env), :commit_sha, :status,
     :reason, :error, :expected_sha256, :actual_sha256, :expected_size, :actual_size,
     :http_status, :duration_seconds)
ON CONFLICT (run_id, kind, path) DO NOTHING

-- name: run_file_totals
SELECT count(*) AS files_total,
       count(*) FILTER (WHERE status = 'success') AS files_matched,
       count(*) FILTER (WHERE status <> 'success') AS files_failed,
       (array_agg(reason ORDER BY path) FILTER (WHERE status <> 'success'))[1] AS first_reason
FROM migration_verification_results WHERE run_id = :run_id AND kind = 'file'

-- name: insert_run
INSERT INTO migration_verification_runs
    (run_id, task_id, domain, environment, commit_sha, manifest_version, manifest_sha256, key_id,
     result, reason, files_total, files_matched, files_failed, schema_matched, started_at,
     duration_seconds)
VALUES
    (:run_id, :task_id, :domain, CAST(:environment AS mvr_env), :commit_sha, :manifest_version,
     :manifest_sha256, :key_id, :result, :reason, :files_total, :files_matched, :files_failed,
     :schema_matched, :started_at, :duration_seconds)
ON CONFLICT (run_id) DO NOTHING
RETURNING run_id

-- name: insert_verified_release
INSERT INTO verified_releases (run_id, domain, environment, commit_sha, manifest_version)
VALUES (:run_id, :domain, CAST(:environment AS mvr_env), :commit_sha, :manifest_version)
ON CONFLICT (run_id) DO NOTHING

-- name: last_verified_version
-- The rollback guard: a manifest older than the last verified release is refused.
SELECT max(manifest_version) FROM verified_releases
WHERE domain = :domain AND environment = CAST(:environment AS mvr_env)

-- name: run_by_id
SELECT * FROM migration_verification_runs WHERE run_id = :run_id

-- name: failures_of_run
SELECT kind, path, url, status, reason, error, expected_sha256, actual_sha256, expected_size,
       actual_size, http_status
FROM migration_verification_results
WHERE run_id = :run_id AND status <> 'success'
ORDER BY kind, path
LIMIT :limit

-- name: history
-- Newest runs first, optionally for one domain (ix_mvr_runs_domain_env_finished).
SELECT run_id, domain, environment::text AS environment, commit_sha, manifest_version, result,
       reason, files_total, files_matched, files_failed, schema_matched, finished_at,
       duration_seconds
FROM migration_verification_runs
WHERE (CAST(:domain AS text) IS NULL OR domain = :domain)
  AND (CAST(:environment AS text) IS NULL OR environment = CAST(:environment AS mvr_env))
ORDER BY finished_at DESC, run_id
LIMIT :limit

-- name: latest_per_domain_env
-- The sidecar's view: the newest run of each (domain, environment).
SELECT DISTINCT ON (domain, environment)
       run_id, domain, environment::text AS environment, commit_sha, manifest_version, result,
       reason, files_total, files_matched, files_failed, schema_matched, finished_at,
       duration_seconds
FROM migration_verification_runs
WHERE domain IS NOT NULL
  AND (CAST(:domain AS text) IS NULL OR domain = :domain)
  AND (CAST(:environment AS text) IS NULL OR environment = CAST(:environment AS mvr_env))
ORDER BY domain, environment, finished_at DESC

-- name: failed_since
-- Failed or refused runs since a moment (the dashboard's last 24 h; BRIN on finished_at).
SELECT run_id, domain, environment::text AS environment, commit_sha, result, reason,
       files_failed, finished_at
FROM migration_verification_runs
WHERE finished_at >= :since AND result <> 'success'
ORDER BY finished_at DESC
LIMIT :limit
