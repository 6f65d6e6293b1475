"""The declared schema. Alembic migrations must produce exactly this (a test diffs them)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ENUM, JSONB, UUID
from sqlalchemy.sql.elements import conv

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

NOW = text("now()")

users = Table(
    "users",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    # Where trust & safety notifications are sent (0007); personal data: never logged.
    Column("email", Text),
    schema="auth",
)

plans = Table(
    "plans",
    metadata,
    Column("name", Text, primary_key=True),
    Column("daily_allowance_seconds", Integer, nullable=False),
    Column("daily_bonus_seconds", Integer, nullable=False),
    Column("monthly_bonus_cap_seconds", Integer, nullable=False),
    CheckConstraint(
        "daily_allowance_seconds >= 0 AND daily_bonus_seconds >= 0"
        " AND monthly_bonus_cap_seconds >= 0",
        name="non_negative",
    ),
)

ai_time_balances = Table(
    "ai_time_balances",
    metadata,
    Column("user_id", UUID(as_uuid=True), ForeignKey("auth.users.id"), primary_key=True),
    Column("plan", Text, ForeignKey("plans.name"), nullable=False),
    # usage_day is the day daily_used_seconds counts for; the reset moves it forward.
    Column("daily_used_seconds", Integer, nullable=False, server_default=text("0")),
    Column("usage_day", Date, nullable=False, server_default=text("CURRENT_DATE")),
    Column("daily_bonus_seconds", Integer, nullable=False, server_default=text("0")),
    Column("bonus_day", Date, nullable=False, server_default=text("CURRENT_DATE")),
    Column("monthly_bonus_used_seconds", Integer, nullable=False, server_default=text("0")),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    CheckConstraint(
        "daily_used_seconds >= 0 AND daily_bonus_seconds >= 0 AND monthly_bonus_used_seconds >= 0",
        name="non_negative",
    ),
)

builds = Table(
    "builds",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("project_id", UUID(as_uuid=True), nullable=False),
    Column("user_id", UUID(as_uuid=True), ForeignKey("auth.users.id"), nullable=False),
    Column("status", Text, nullable=False, server_default=text("'queued'")),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Column("started_at", DateTime(timezone=True)),
    Column("last_heartbeat_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
    Column("failure_reason", Text),
    Column("reserved_ai_seconds", Integer, nullable=False, server_default=text("0")),
    Column("refunded_ai_seconds", Integer, nullable=False, server_default=text("0")),
    CheckConstraint("status IN ('queued', 'building', 'deployed', 'failed')", name="status_known"),
    CheckConstraint("status <> 'failed' OR failure_reason IS NOT NULL", name="failed_has_reason"),
    CheckConstraint("reserved_ai_seconds >= 0 AND refunded_ai_seconds >= 0", name="non_negative"),
)
# Ghost detection only ever looks at live builds: a partial index keeps it small.
Index(
    "ix_builds_live_heartbeat",
    builds.c.id,
    postgresql_where=text("status IN ('queued', 'building')"),
)

build_artifacts = Table(
    "build_artifacts",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("project_id", UUID(as_uuid=True), nullable=False),
    Column("build_id", UUID(as_uuid=True), ForeignKey("builds.id"), nullable=False),
    Column("storage_key", Text, nullable=False, unique=True),
    Column("sha256", Text, nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    # Lifecycle: live -> soft_deleted -> cold (content-addressed key) -> purged.
    Column("soft_deleted_at", DateTime(timezone=True)),
    Column("cold_storage_key", Text),
    Column("moved_to_cold_at", DateTime(timezone=True)),
    Column("purged_at", DateTime(timezone=True)),
    # Set once the hot object of a moved artifact is deleted (0006): a crash between the
    # cold move and the hot delete leaves it NULL, and the next run finishes the delete.
    Column("hot_deleted_at", DateTime(timezone=True)),
    CheckConstraint("sha256 ~ '^[0-9a-f]{64}$'", name="sha256_hex"),
    CheckConstraint("size_bytes >= 0", name="size_non_negative"),
    CheckConstraint(
        "moved_to_cold_at IS NULL OR (soft_deleted_at IS NOT NULL AND cold_storage_key IS NOT NULL)",
        name="cold_after_soft_delete",
    ),
    CheckConstraint(
        "purged_at IS NULL OR soft_deleted_at IS NOT NULL", name="purge_after_soft_delete"
    ),
)
Index(
    "ix_build_artifacts_project_recent",
    build_artifacts.c.project_id,
    build_artifacts.c.created_at.desc(),
    build_artifacts.c.id.desc(),
)
# Cleanup walks live artifacts in id order: a partial index keeps the walk cheap.
Index(
    "ix_build_artifacts_live",
    build_artifacts.c.id,
    postgresql_where=text("soft_deleted_at IS NULL"),
)

job_runs = Table(
    "job_runs",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("job", Text, nullable=False),
    Column("task_id", Text, nullable=False),
    Column("idempotency_key", Text, nullable=False),
    Column("attempt", Integer, nullable=False, server_default=text("1")),
    Column("status", Text, nullable=False),
    Column("queue", Text),
    Column("region", Text, nullable=False, server_default=text("'local'")),
    Column("started_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Column("finished_at", DateTime(timezone=True)),
    Column("duration_seconds", Float),
    Column("queue_wait_seconds", Float),
    Column("rows_affected", BigInteger),
    Column("error", Text),
    Column("retries", SmallInteger, nullable=False, server_default=text("0")),
    # W3C trace id and the producer's request id (0008): logs, runs and events agree.
    Column("trace_id", Text),
    Column("request_id", Text),
    CheckConstraint(
        "status IN ('running', 'success', 'failure', 'retry', 'timeout', 'skipped')",
        name="status_known",
    ),
    CheckConstraint(
        "status NOT IN ('failure', 'timeout') OR error IS NOT NULL", name="failure_has_error"
    ),
)
Index("ix_job_runs_job_started", job_runs.c.job, job_runs.c.started_at.desc())
Index("ix_job_runs_started", job_runs.c.started_at)
Index("ix_job_runs_task_id", job_runs.c.task_id)
# "Did this key's work finish?" (a requeue, a timeout) reads a key's runs.
Index("ix_job_runs_job_key", job_runs.c.job, job_runs.c.idempotency_key)

usage_events = Table(
    "usage_events",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("user_id", UUID(as_uuid=True), nullable=False),
    Column("kind", Text, nullable=False),
    Column("seconds", Integer, nullable=False),
    Column("period", Text, nullable=False),
    Column("build_id", UUID(as_uuid=True)),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    CheckConstraint("kind IN ('daily_reset', 'bonus_reset', 'ghost_refund')", name="kind_known"),
)
Index("ix_usage_events_user_created", usage_events.c.user_id, usage_events.c.created_at)

project_build_events = Table(
    "project_build_events",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("project_id", UUID(as_uuid=True), nullable=False),
    Column("build_id", UUID(as_uuid=True), nullable=False),
    Column("user_id", UUID(as_uuid=True), nullable=False),
    Column("event", Text, nullable=False),
    Column("reason", Text),
    Column("details", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    CheckConstraint("event <> 'failed' OR reason IS NOT NULL", name="failed_has_reason"),
)
Index("ix_project_build_events_build", project_build_events.c.build_id)

# Every dead-letter requeue and purge, one row per letter (append-only, see 0002).
dead_letter_audit = Table(
    "dead_letter_audit",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("action", Text, nullable=False),
    Column("letter_id", Text, nullable=False),
    Column("job", Text, nullable=False),
    Column("actor", Text, nullable=False),
    Column("details", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    # Hash chain (0006, sheen/artifacts/chain.py): filled by the insert trigger.
    Column("chain_seq", BigInteger, nullable=False, unique=True),
    Column("prev_hash", Text, nullable=False),
    Column("row_hash", Text, nullable=False),
    CheckConstraint("action IN ('requeue', 'purge')", name="action_known"),
)
Index("ix_dead_letter_audit_letter", dead_letter_audit.c.letter_id)
Index("ix_dead_letter_audit_created", dead_letter_audit.c.created_at)

# Hourly roll-up of job_runs kept by triggers (0003): runs per job, UTC hour, status and
# duration bucket, so the 24 h overview reads a few hundred rows instead of the raw runs.
job_run_rollups = Table(
    "job_run_rollups",
    metadata,
    Column("job", Text, primary_key=True),
    Column("hour", DateTime(timezone=True), primary_key=True),
    Column("status", Text, primary_key=True),
    Column("bucket", SmallInteger, primary_key=True),
    Column("runs", BigInteger, nullable=False, server_default=text("0")),
)
Index("ix_job_run_rollups_hour", job_run_rollups.c.hour)

# A task's effect and its key's done-mark commit in one transaction (RunContext.transaction):
# PostgreSQL is the truth for "this key is done", Redis only the fast path. Kept by time.
job_done_keys = Table(
    "job_done_keys",
    metadata,
    Column("job", Text, primary_key=True),
    Column("idempotency_key", Text, primary_key=True),
    Column("task_id", Text, nullable=False),
    Column("done_at", DateTime(timezone=True), nullable=False, server_default=NOW),
)
Index("ix_job_done_keys_done_at", job_done_keys.c.done_at)
Index("ix_job_done_keys_task_id", job_done_keys.c.task_id)

# --- site-migration verification (0005) ---
# Evidence that a site serves what was built (sheen/verification): one row per file, one for
# the schema (or one for a refused manifest) per run, one row per finished run, and a
# verified release only for a run where everything matched. All three are append-only.
MVR_ENV = ENUM("ci", "staging", "production", name="mvr_env", create_type=False)
_SHA256 = "~ '^[0-9a-f]{64}$'"
_COMMIT = "~ '^[0-9a-f]{40}([0-9a-f]{24})?$'"

migration_verification_results = Table(
    "migration_verification_results",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("run_id", UUID(as_uuid=True), nullable=False),
    Column("kind", Text, nullable=False),
    Column("path", Text, nullable=False),
    Column("url", Text),
    Column("domain", Text),
    Column("environment", MVR_ENV, nullable=False),
    Column("commit_sha", Text),
    Column("status", Text, nullable=False),
    Column("reason", Text),
    Column("error", Text),
    Column("expected_sha256", Text),
    Column("actual_sha256", Text),
    Column("expected_size", BigInteger),
    Column("actual_size", BigInteger),
    Column("http_status", SmallInteger),
    Column("duration_seconds", Float),
    Column("checked_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    CheckConstraint("kind IN ('file', 'schema', 'manifest')", name="kind_known"),
    CheckConstraint("status IN ('success', 'failure', 'refused')", name="status_known"),
    CheckConstraint(
        f"(expected_sha256 IS NULL OR expected_sha256 {_SHA256})"
        f" AND (actual_sha256 IS NULL OR actual_sha256 {_SHA256})",
        name="sha256_hex",
    ),
    CheckConstraint(f"commit_sha IS NULL OR commit_sha {_COMMIT}", name="commit_hex"),
    CheckConstraint(
        "(status = 'success' AND expected_sha256 IS NOT NULL"
        " AND actual_sha256 = expected_sha256 AND error IS NULL)"
        " OR (status <> 'success' AND error IS NOT NULL AND reason IS NOT NULL)",
        name=conv("mvr_success_matches_hash"),
    ),
    # A redelivered task never writes a file's row twice; a later run has its own run_id.
    UniqueConstraint("run_id", "kind", "path"),
)
Index(
    "ix_mvr_results_checked_at_brin",
    migration_verification_results.c.checked_at,
    postgresql_using="brin",
)
Index(
    "ix_mvr_results_domain_env_checked",
    migration_verification_results.c.domain,
    migration_verification_results.c.environment,
    migration_verification_results.c.checked_at.desc(),
)

migration_verification_runs = Table(
    "migration_verification_runs",
    metadata,
    Column("run_id", UUID(as_uuid=True), primary_key=True),
    Column("task_id", Text),
    Column("domain", Text),
    Column("environment", MVR_ENV, nullable=False),
    Column("commit_sha", Text),
    Column("manifest_version", BigInteger),
    Column("manifest_sha256", Text, nullable=False),
    Column("key_id", Text),
    Column("result", Text, nullable=False),
    Column("reason", Text),
    Column("files_total", Integer, nullable=False, server_default=text("0")),
    Column("files_matched", Integer, nullable=False, server_default=text("0")),
    Column("files_failed", Integer, nullable=False, server_default=text("0")),
    Column("schema_matched", Boolean),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Column("duration_seconds", Float, nullable=False),
    CheckConstraint("result IN ('success', 'failure', 'refused')", name="result_known"),
    CheckConstraint(f"manifest_sha256 {_SHA256}", name="sha256_hex"),
    CheckConstraint(f"commit_sha IS NULL OR commit_sha {_COMMIT}", name="commit_hex"),
    CheckConstraint(
        "result <> 'success' OR (files_failed = 0 AND files_total > 0 AND schema_matched)",
        name="success_complete",
    ),
    CheckConstraint("result = 'success' OR reason IS NOT NULL", name="failure_has_reason"),
)
Index(
    "ix_mvr_runs_domain_env_finished",
    migration_verification_runs.c.domain,
    migration_verification_runs.c.environment,
    migration_verification_runs.c.finished_at.desc(),
)
Index(
    "ix_mvr_runs_finished_brin",
    migration_verification_runs.c.finished_at,
    postgresql_using="brin",
)

verified_releases = Table(
    "verified_releases",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column(
        "run_id",
        UUID(as_uuid=True),
        ForeignKey("migration_verification_runs.run_id"),
        nullable=False,
        unique=True,
    ),
    Column("domain", Text, nullable=False),
    Column("environment", MVR_ENV, nullable=False),
    Column("commit_sha", Text, nullable=False),
    Column("manifest_version", BigInteger, nullable=False),
    Column("verified_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    CheckConstraint(f"commit_sha {_COMMIT}", name="commit_hex"),
)
# The rollback guard reads the highest verified version of a domain and environment.
Index(
    "ix_verified_releases_domain_env_version",
    verified_releases.c.domain,
    verified_releases.c.environment,
    verified_releases.c.manifest_version,
)
VERIFICATION_AUDIT_TABLES = (
    "migration_verification_results",
    "migration_verification_runs",
    "verified_releases",
)

# --- artifact lifecycle (0006) ---
# Hot -> cold -> purge (sheen/artifacts): the walks of each step, and the reference check
# of a purge (other unpurged artifacts with the same content), each read a partial index.
Index(
    "ix_build_artifacts_due_cold",
    build_artifacts.c.id,
    postgresql_where=text(
        "soft_deleted_at IS NOT NULL AND moved_to_cold_at IS NULL AND purged_at IS NULL"
    ),
)
Index(
    "ix_build_artifacts_cold",
    build_artifacts.c.id,
    postgresql_where=text("moved_to_cold_at IS NOT NULL AND purged_at IS NULL"),
)
Index(
    "ix_build_artifacts_hot_pending",
    build_artifacts.c.id,
    postgresql_where=text("moved_to_cold_at IS NOT NULL AND hot_deleted_at IS NULL"),
)
Index(
    "ix_build_artifacts_unpurged_sha256",
    build_artifacts.c.sha256,
    postgresql_where=text("purged_at IS NULL"),
)

# The head of each hash-chained log: the insert trigger locks this row, so inserts into
# one log are linked in one order whatever the concurrency; `audit verify` compares the
# last row against it (a removed tail shows).
audit_chain_heads = Table(
    "audit_chain_heads",
    metadata,
    Column("log", Text, primary_key=True),
    Column("last_seq", BigInteger, nullable=False),
    Column("last_hash", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=NOW),
)


def _chain_columns() -> list[Any]:
    """The columns every hash-chained log carries (filled by `sheen_chain_link()`)."""
    return [
        Column("chain_seq", BigInteger, nullable=False, unique=True),
        Column("prev_hash", Text, nullable=False),
        Column("row_hash", Text, nullable=False),
        CheckConstraint(f"prev_hash {_SHA256} AND row_hash {_SHA256}", name="chain_hex"),
    ]


# Every soft delete, move to cold storage and purge, one row per artifact.
cleanup_audit_log = Table(
    "cleanup_audit_log",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("artifact_id", UUID(as_uuid=True), nullable=False),
    Column("action", Text, nullable=False),
    Column("sha256", Text, nullable=False),
    Column("storage_key", Text, nullable=False),
    Column("cold_storage_key", Text),
    Column("job", Text, nullable=False),
    # The lifecycle clock of the action (a job's window), beside the wall clock.
    Column("effective_at", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    *_chain_columns(),
    CheckConstraint("action IN ('soft_delete', 'move_to_cold', 'purge')", name="action_known"),
    CheckConstraint(f"sha256 {_SHA256}", name="sha256_hex"),
    CheckConstraint("action = 'soft_delete' OR cold_storage_key IS NOT NULL", name="cold_has_key"),
)
Index("ix_cleanup_audit_log_artifact", cleanup_audit_log.c.artifact_id)

# Every restore attempt: who, which artifact, from where, the outcome and both hashes.
artifact_recovery_log = Table(
    "artifact_recovery_log",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("artifact_id", UUID(as_uuid=True), nullable=False),
    Column("actor", Text, nullable=False),
    Column("task_id", Text),
    Column("source", Text),
    Column("outcome", Text, nullable=False),
    Column("reason", Text),
    Column("dry_run", Boolean, nullable=False, server_default=text("false")),
    Column("expected_sha256", Text),
    Column("actual_sha256", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    *_chain_columns(),
    CheckConstraint("source IS NULL OR source IN ('hot', 'cold')", name="source_known"),
    CheckConstraint("outcome IN ('restored', 'verified', 'refused')", name="outcome_known"),
    CheckConstraint(
        f"(expected_sha256 IS NULL OR expected_sha256 {_SHA256})"
        f" AND (actual_sha256 IS NULL OR actual_sha256 {_SHA256})",
        name="sha256_hex",
    ),
    CheckConstraint(
        "(outcome IN ('restored', 'verified') AND source IS NOT NULL AND actual_sha256 = expected_sha256"
        " AND reason IS NULL) OR (outcome = 'refused' AND reason IS NOT NULL)",
        name="restored_matches_hash",
    ),
)
Index("ix_artifact_recovery_log_artifact", artifact_recovery_log.c.artifact_id)
ARTIFACT_AUDIT_TABLES = ("cleanup_audit_log", "artifact_recovery_log")
# Logs whose rows are hash-chained (sheen_chain_link trigger); `sheen-ops audit verify`.
CHAINED_LOGS = ("cleanup_audit_log", "artifact_recovery_log", "dead_letter_audit")

# --- trust & safety notifications (0007) ---
# One row per notification request (sheen/notifications): sent, or suppressed with a reason.
# At most one counted row (pending or sent) per user and category per 12 hours: an exclusion
# constraint where btree_gist exists, else a locking insert trigger (see 0007).
TSN_CATEGORIES = ("content_violation", "account_warning", "temporary_restriction", "appeal_update")
_IN_CATEGORIES = "category IN ({})".format(", ".join(f"'{c}'" for c in TSN_CATEGORIES))

trust_safety_notifications = Table(
    "trust_safety_notifications",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")),
    Column("user_id", UUID(as_uuid=True), ForeignKey("auth.users.id"), nullable=False),
    Column("category", Text, nullable=False),
    Column("locale", Text, nullable=False),
    Column("params", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("status", Text, nullable=False),
    Column("suppressed_reason", Text),
    Column("failure_reason", Text),
    # The request's idempotency key: a redelivered request finds its own row.
    Column("request_key", Text, nullable=False, unique=True),
    Column("attempts", SmallInteger, nullable=False, server_default=text("0")),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Column("sent_at", DateTime(timezone=True)),
    Column("read_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    CheckConstraint(_IN_CATEGORIES, name="category_known"),
    CheckConstraint("locale IN ('en', 'es', 'fr')", name="locale_known"),
    CheckConstraint("jsonb_typeof(params) = 'object'", name="params_object"),
    CheckConstraint("status IN ('pending', 'sent', 'suppressed', 'failed')", name="status_known"),
    CheckConstraint(
        "(status = 'suppressed') = (suppressed_reason IS NOT NULL)"
        " AND (suppressed_reason IS NULL OR suppressed_reason IN ('rate_limited', 'kill_switch'))",
        name="suppressed_has_reason",
    ),
    CheckConstraint("status <> 'failed' OR failure_reason IS NOT NULL", name="failed_has_reason"),
    CheckConstraint("(status = 'sent') = (sent_at IS NOT NULL)", name="sent_has_time"),
)
# The user's unread notifications of a category, newest first; a user's history by status.
Index(
    "ix_tsn_unread_cat_created",
    trust_safety_notifications.c.user_id,
    trust_safety_notifications.c.category,
    trust_safety_notifications.c.created_at.desc(),
    postgresql_where=text("read_at IS NULL"),
)
Index(
    "ix_tsn_user_status_created",
    trust_safety_notifications.c.user_id,
    trust_safety_notifications.c.status,
    trust_safety_notifications.c.created_at.desc(),
)
Index(
    "ix_tsn_counted_user_cat_created",
    trust_safety_notifications.c.user_id,
    trust_safety_notifications.c.category,
    trust_safety_notifications.c.created_at,
    postgresql_where=text("status IN ('pending', 'sent')"),
)

# An appeal of one notification; its only foreign key is the notification (the user is
# the notification's). `context` is appended by the fleet: category, dates, locale and the
# public text the user saw, never internal codes.
appeal_tickets = Table(
    "appeal_tickets",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")),
    Column(
        "notification_id",
        UUID(as_uuid=True),
        ForeignKey("trust_safety_notifications.id"),
        nullable=False,
        unique=True,
    ),
    Column("user_message", Text, nullable=False),
    Column("context", JSONB, nullable=False),
    Column("status", Text, nullable=False, server_default=text("'open'")),
    Column("forwarded_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    CheckConstraint("status IN ('open', 'in_review', 'resolved')", name="status_known"),
    CheckConstraint("jsonb_typeof(context) = 'object'", name="context_object"),
    CheckConstraint("char_length(user_message) <= 5000", name="message_bounded"),
)
Index(
    "ix_appeal_tickets_status_created", appeal_tickets.c.status, appeal_tickets.c.created_at.desc()
)
TRUST_SAFETY_TABLES = ("appeal_tickets", "trust_safety_notifications")

# --- migration analytics (0008) ---
# Five events per migration (sheen/analytics), written by the fleet's own role only; the
# dashboards read them as the read-only role `sheen_analytics_reader`. One row per
# (task, type, attempt, step): a redelivered task never writes the same event twice.
ANALYTICS_EVENT_TYPES = ("started", "step_completed", "retry", "completed", "failed")
migration_analytics_events = Table(
    "migration_analytics_events",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("event_type", Text, nullable=False),
    Column("migration_id", UUID(as_uuid=True), nullable=False),
    Column("user_id", UUID(as_uuid=True), ForeignKey("auth.users.id"), nullable=False),
    Column("task_id", Text, nullable=False),
    Column("job", Text, nullable=False),
    Column("step", Text, nullable=False, server_default=text("''")),
    Column("attempt", SmallInteger, nullable=False),
    Column("duration_seconds", Float),
    Column("ai_seconds", Float, nullable=False, server_default=text("0")),
    Column("error_class", Text),
    Column("request_id", Text),
    Column("trace_id", Text),
    Column("service", Text, nullable=False),
    Column("environment", Text, nullable=False),
    Column("region", Text, nullable=False),
    Column("metadata", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("occurred_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    CheckConstraint(
        "event_type IN ('started', 'step_completed', 'retry', 'completed', 'failed')",
        name="event_type_known",
    ),
    CheckConstraint("step ~ '^([a-z][a-z0-9_]{0,63})?$'", name="step_token"),
    CheckConstraint("event_type <> 'step_completed' OR step <> ''", name="step_named"),
    CheckConstraint("attempt >= 1", name="attempt_positive"),
    CheckConstraint(
        "(duration_seconds IS NULL OR duration_seconds >= 0) AND ai_seconds >= 0",
        name="non_negative",
    ),
    CheckConstraint(
        "error_class IS NULL OR error_class ~ '^[A-Za-z_][A-Za-z0-9_.]{0,199}$'",
        name="error_class_token",
    ),
    CheckConstraint("event_type <> 'failed' OR error_class IS NOT NULL", name="failed_has_error"),
    CheckConstraint(
        "request_id IS NULL OR request_id ~ '^[A-Za-z0-9._:-]{1,128}$'", name="request_id_token"
    ),
    CheckConstraint("trace_id IS NULL OR trace_id ~ '^[0-9a-f]{32}$'", name="trace_id_hex"),
    CheckConstraint("jsonb_typeof(metadata) = 'object'", name="metadata_object"),
    UniqueConstraint("task_id", "event_type", "attempt", "step"),
)
# Time-range reads (retention, health) scan block ranges; per user / per migration reads.
Index(
    "ix_migration_analytics_events_occurred_brin",
    migration_analytics_events.c.occurred_at,
    postgresql_using="brin",
)
Index(
    "ix_migration_analytics_events_user_occurred",
    migration_analytics_events.c.user_id,
    migration_analytics_events.c.occurred_at,
)
Index(
    "ix_migration_analytics_events_migration_occurred",
    migration_analytics_events.c.migration_id,
    migration_analytics_events.c.occurred_at,
)
# Per UTC day, event type, step and duration bucket (x1.05 wide): kept by a row
# trigger on the events, so the everyone roll-up reads a few thousand rows, not millions.
migration_analytics_daily = Table(
    "migration_analytics_daily",
    metadata,
    Column("day", Date, primary_key=True),
    Column("event_type", Text, primary_key=True),
    Column("step", Text, primary_key=True),
    Column("bucket", SmallInteger, primary_key=True),
    Column("events", BigInteger, nullable=False, server_default=text("0")),
    Column("duration_seconds_sum", Float, nullable=False, server_default=text("0")),
    Column("ai_seconds_sum", Float, nullable=False, server_default=text("0")),
)

# --- fleet accounting (0009) ---

# --- operations (0010) ---

APPEND_ONLY_TABLES = ("usage_events", "project_build_events")
# Append-only too (same trigger); kept apart because its rows have a different shape.
DEAD_LETTER_AUDIT_TABLES = ("dead_letter_audit",)
