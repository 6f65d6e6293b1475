"""One settings object, parsed and validated once from `SHEEN_*` environment variables.

Nothing reads the environment at import time: entry points call `load_settings()`
and a bad value becomes one `ConfigError` line naming the variable (exit status 2).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from sheen.errors import ConfigError

PREFIX = "SHEEN_"
SERVICES_FILE = "services.json"


class Environment(StrEnum):
    DEVELOPMENT = "development"
    CI = "ci"
    STAGING = "staging"
    PRODUCTION = "production"


_URL_SCHEMES = {
    "broker_url": {"redis", "rediss", "amqp", "amqps", "pyamqp"},
    "redis_url": {"redis", "rediss", "unix"},
    "database_url": {"postgresql", "postgresql+psycopg", "postgres"},
    # Artifact storage: an S3 API (http/https), or a local directory (file://, `make run`).
    "s3_endpoint_url": {"http", "https", "file"},
}


class Settings(BaseModel):
    """Every knob of the fleet; the README's configuration table documents each field."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    env: Environment = Environment.DEVELOPMENT
    region: str = Field(default="local", pattern=r"^[a-z0-9][a-z0-9-]{0,31}$")
    service_name: str = Field(default="sheen-worker", pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")
    broker_url: str = "redis://127.0.0.1:6379/0"
    redis_url: str = "redis://127.0.0.1:6379/1"
    database_url: str = "postgresql://postgres@127.0.0.1:5432/sheen"
    state_dir: Path = Path(".sheen")
    log_level: str = Field(default="INFO", pattern=r"^(DEBUG|INFO|WARNING|ERROR)$")
    log_format: str = Field(default="auto", pattern=r"^(auto|json|console)$")
    # Delivery: must exceed the longest hard time limit (checked at worker start).
    visibility_timeout_seconds: int = Field(default=3600, ge=10)
    worker_concurrency: int = Field(default=2, ge=1, le=256)
    # Jobs
    job_batch_size: int = Field(default=5000, ge=1, le=100_000)
    # jobs.daily_reset only: fewer, larger batches (each a commit) measured about twice as
    # cheap at 1,000,000 rows as 5,000 (docs/benchmarks.md); rows never come to Python.
    daily_reset_batch_size: int = Field(default=50_000, ge=1, le=100_000)
    ghost_build_threshold_seconds: int = Field(default=900, ge=60)
    artifact_retention_days: int = Field(default=30, ge=1)
    artifact_keep_latest: int = Field(default=5, ge=0)
    # Artifact lifecycle (sheen/artifacts): soft-deleted -> cold after N days -> purged after M.
    artifact_soft_delete_days: int = Field(default=14, ge=1)
    artifact_cold_retention_days: int = Field(default=180, ge=1)
    artifact_hot_bucket: str = Field(
        default="sheen-artifacts", pattern=r"^[a-z0-9][a-z0-9.-]{2,62}$"
    )
    artifact_cold_bucket: str = Field(
        default="sheen-artifacts-cold", pattern=r"^[a-z0-9][a-z0-9.-]{2,62}$"
    )
    artifact_copy_concurrency: int = Field(default=16, ge=1, le=128)
    # The cold bucket's lifecycle rule (`sheen-ops artifacts lifecycle apply`).
    artifact_archive_after_days: int = Field(default=30, ge=0)
    artifact_archive_storage_class: str = Field(default="GLACIER", pattern=r"^[A-Z_]+$")
    # No endpoint: boto3's default (AWS). file:///dir: objects as files under dir.
    s3_endpoint_url: str | None = Field(default=None, pattern=r"^(https?|file)://")
    s3_region: str = Field(default="us-east-1", pattern=r"^[a-z0-9-]{1,32}$")
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None
    s3_max_attempts: int = Field(default=5, ge=1, le=20)
    # Version restore: archives are read from, and working directories live under, these roots.
    # Who `sheen-ops dlq requeue|purge` records in the audit table (default user@host).
    ops_actor: str | None = Field(default=None, max_length=200)
    version_archive_dir: Path = Path(".sheen/versions")
    workdir_root: Path = Path(".sheen/workdirs")
    # Reliability: poison-pill bound, retry backoff, watchdog scale, dead-letter digest.
    max_deliveries: int = Field(default=3, ge=1, le=100)
    # How long a key stays done in Redis: must outlive every delivery of it (checked at start).
    done_key_retention_seconds: int = Field(default=7 * 86400, ge=1)
    # How long PostgreSQL keeps done-marks (the truth behind the Redis done-set).
    done_mark_retention_days: int = Field(default=30, ge=1)
    # Hours of the job_runs roll-up older than this go (jobs.prune_job_run_rollups); the
    # longest read is the 7-day trend, so at least 8.
    rollup_retention_days: int = Field(default=30, ge=8)
    retry_backoff_seconds: float = Field(default=2.0, gt=0)
    retry_backoff_max_seconds: float = Field(default=600.0, gt=0)
    # Multiplies every task's time limits (tests shrink them to keep a short visibility timeout).
    time_limit_scale: float = Field(default=1.0, gt=0, le=1)
    alert_webhook_url: str | None = Field(default=None, pattern=r"^https?://")
    alert_webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    # Site-migration verification: manifest signing keys (rotation: several), fetch limits.
    manifest_public_keys: str = Field(default="", pattern=r"^[A-Za-z0-9+/=,\s]*$")
    verification_concurrency: int = Field(default=16, ge=1, le=256)
    verification_fetch_timeout_seconds: float = Field(default=10.0, gt=0, le=10)
    verification_max_manifest_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    verification_schemas: str = Field(default="public,auth", pattern=r"^\w+(,\w+)*$")
    # Many hosts: RabbitMQ quorum queues' own poison-pill bound (a backstop behind
    # max_deliveries), the beat lease, and lost-task accounting (see docs/scaling.md).
    broker_delivery_limit: int = Field(default=5, ge=1, le=1000)
    beat_lock_timeout_seconds: int = Field(default=60, ge=2, le=3600)
    extra_beat_schedule: str = Field(default="", pattern=r"^([\w.]+)?$")
    ledger_retention_seconds: int = Field(default=86400, ge=60)
    ledger_max_entries: int = Field(default=1_000_000, ge=100)
    audit_margin_seconds: int = Field(default=300, ge=0)
    # Migration analytics (sheen/analytics): the emission switch (also read as ANALYTICS_EMIT),
    # head sampling of traces (failed tasks' traces are kept anyway), OTLP/HTTP export (none
    # when unset) and the read-only role the sidecar's roll-up reads as (SET LOCAL ROLE).
    analytics_emit: bool = True
    trace_sample_ratio: float = Field(default=0.1, ge=0, le=1)
    otlp_endpoint: str | None = Field(default=None, pattern=r"^https?://")
    analytics_db_role: str | None = Field(default=None, pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    # Modules of extra tasks a worker imports (test probes); empty in production.
    extra_task_modules: str = Field(default="", pattern=r"^([\w.]+(,[\w.]+)*)?$")
    # Observability: the worker's scrape endpoint (0 turns it off) and the sampled queues.
    metrics_port: int = Field(default=9808, ge=0, le=65535)
    metrics_host: str = "127.0.0.1"
    monitored_queues: str = Field(default="jobs", pattern=r"^[\w.:-]+(,[\w.:-]+)*$")
    # Sidecar (read-only Flask app)
    sidecar_host: str = "127.0.0.1"
    sidecar_port: int = Field(default=8080, ge=1, le=65535)
    sidecar_auth_disabled: bool = False
    # Signs the dashboard's browser session cookie; development keeps one in the state folder.
    sidecar_session_secret: SecretStr | None = Field(default=None, min_length=32)
    # Server health: SLO thresholds, the degraded window and how long state outlives silence.
    server_id: str = Field(default="", pattern=r"^[A-Za-z0-9_.-]{0,64}$")
    slo_window_seconds: int = Field(default=600, ge=1)
    slo_state_ttl_seconds: int = Field(default=180, ge=1)
    slo_lookback_seconds: int = Field(default=900, ge=60)
    slo_ai_capacity_key: str = "ai:provider:capacity"
    slo_ai_capacity_min: float = Field(default=0.2, ge=0, le=1)
    slo_redis_latency_ms: float = Field(default=50.0, gt=0)
    slo_queue_depth_max: int = Field(default=1000, ge=0)
    slo_dequeue_p95_seconds: float = Field(default=30.0, gt=0)
    slo_runtime_p95_seconds: float = Field(default=300.0, gt=0)
    slo_success_rate_min: float = Field(default=0.95, ge=0, le=1)
    # Admin tokens for the sidecar API (sheen.security.token_config reads these)
    jwt_algorithms: str = "RS256"
    jwt_public_key: str | None = None
    jwt_jwks_file: str | None = None
    jwt_secret: SecretStr | None = None
    jwt_audience: str = "sheen-sidecar"
    jwt_issuer: str = "sheen-ops"
    # Trust & safety notifications (sheen/notifications): the kill switch (off: every request
    # is recorded suppressed, nothing is sent; also read as TRUST_SAFETY_NOTIFICATIONS), SMTP,
    # the appeal link's signing secret, lifetime and base URL, and the helpdesk webhook.
    trust_safety_notifications: bool = True
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_tls: str = Field(default="none", pattern=r"^(none|starttls|ssl)$")
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_sender: str = Field(
        default="SheenApps Trust & Safety <trust-safety@sheenapps.local>", max_length=200
    )
    smtp_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    appeal_base_url: str = Field(default="http://127.0.0.1:3000/appeal", pattern=r"^https?://")
    appeal_token_secret: SecretStr | None = Field(default=None, min_length=32)
    appeal_token_ttl_seconds: int = Field(default=30 * 86400, ge=60)
    appeal_webhook_url: str | None = Field(default=None, pattern=r"^https?://")
    appeal_webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    # TLS (sheen.deploy.tls): rediss:// URLs verify the server against this CA (else the
    # system's) and may present a client certificate; libpq's sslmode and files for PostgreSQL.
    redis_tls_ca_file: Path | None = None
    redis_tls_cert_file: Path | None = None
    redis_tls_key_file: Path | None = None
    database_sslmode: str | None = Field(
        default=None, pattern=r"^(disable|allow|prefer|require|verify-ca|verify-full)$"
    )
    database_sslrootcert: Path | None = None
    database_sslcert: Path | None = None
    database_sslkey: Path | None = None

    @field_validator("broker_url", "redis_url", "database_url")
    @classmethod
    def _url(cls, value: str, info: Any) -> str:
        parts = urlsplit(value)
        schemes = _URL_SCHEMES[info.field_name]
        if parts.scheme not in schemes:
            allowed = ", ".join(sorted(schemes))
            raise ValueError(f"scheme must be one of {allowed}")
        if parts.scheme != "unix" and not parts.hostname and "host=" not in parts.query:
            raise ValueError("URL has no host")
        return value

    @property
    def sqlalchemy_url(self) -> str:
        """The database URL with the psycopg 3 driver SQLAlchemy needs."""
        rest = self.database_url.split("://", 1)[1]
        return self._with_libpq_ssl(f"postgresql+psycopg://{rest}")

    @property
    def libpq_url(self) -> str:
        """The database URL as libpq (psycopg.connect, psql) spells it."""
        return self._with_libpq_ssl("postgresql://" + self.database_url.split("://", 1)[1])

    def _with_libpq_ssl(self, url: str) -> str:
        """Add the database_ssl* settings as libpq URI parameters (the URL's own ones win)."""
        extra = {
            "sslmode": self.database_sslmode,
            "sslrootcert": self.database_sslrootcert,
            "sslcert": self.database_sslcert,
            "sslkey": self.database_sslkey,
        }
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        added = {k: str(v) for k, v in extra.items() if v is not None and k not in query}
        if not added:
            return url
        return urlunsplit(parts._replace(query=urlencode({**query, **added}, safe="/")))

    @property
    def server_key(self) -> str:
        """The id of this fleet in `servers:degraded-state:{serverId}`."""
        return self.server_id or f"{self.service_name}-{self.region}"

    @property
    def queue_names(self) -> tuple[str, ...]:
        return tuple(self.monitored_queues.split(","))

    @property
    def is_production_like(self) -> bool:
        return self.env in (Environment.STAGING, Environment.PRODUCTION)


def env_name(field: str) -> str:
    return PREFIX + field.upper()


def _embedded_urls(state_dir: Path) -> dict[str, str]:
    """URLs of the embedded services `make run` started from this checkout, if any."""
    path = state_dir / SERVICES_FILE
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if k in _URL_SCHEMES and isinstance(v, str)}


def parse_settings(environ: Mapping[str, str]) -> Settings:
    """Build Settings from an environment mapping; raise ConfigError naming the variable."""
    raw: dict[str, Any] = {}
    for field in Settings.model_fields:
        value = environ.get(env_name(field))
        if value is not None and value != "":
            raw[field] = value
    # The kill switch is also read without the prefix; either one saying off turns it off.
    alias = environ.get("TRUST_SAFETY_NOTIFICATIONS", "").strip()
    if alias.lower() in ("off", "false", "0", "no", "n", "f"):
        raw["trust_safety_notifications"] = "off"
    elif alias:
        raw.setdefault("trust_safety_notifications", alias)
    if "analytics_emit" not in raw and environ.get("ANALYTICS_EMIT"):
        raw["analytics_emit"] = environ["ANALYTICS_EMIT"]  # the name operators already know
    state_dir = Path(raw.get("state_dir", ".sheen"))
    for field, url in _embedded_urls(state_dir).items():
        raw.setdefault(field, url)
    try:
        return Settings(**raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = str(err["loc"][0]) if err["loc"] else "?"
        shown = raw.get(field, "")
        detail = err["msg"].removeprefix("Value error, ")
        if "url" in field and shown:
            shown = _redact(shown)
        raise ConfigError(f"{env_name(field)}={shown!s}: {detail}") from None


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url


@lru_cache(maxsize=1)
def load_settings() -> Settings:
    """The process-wide settings, parsed on first use."""
    return parse_settings(os.environ)
