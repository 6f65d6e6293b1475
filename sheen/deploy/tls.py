"""TLS to Redis (`rediss://`) from settings: the same options for kombu, Celery and redis-py.

A `rediss://` URL always verifies the server: its certificate must chain to
SHEEN_REDIS_TLS_CA_FILE (or to the system's CAs when that is unset) and name the
host of the URL. SHEEN_REDIS_TLS_CERT_FILE/KEY_FILE add a client certificate for
servers that ask for one (`tls-auth-clients yes`). PostgreSQL's TLS is libpq's own
(`sslmode`, `sslrootcert`, ...): Settings adds those to the database URL.
"""

from __future__ import annotations

import ssl
from typing import Any
from urllib.parse import urlsplit

from sheen.settings import Settings, load_settings


def is_tls(url: str) -> bool:
    return urlsplit(url).scheme == "rediss"


def redis_ssl_options(settings: Settings) -> dict[str, Any]:
    """`broker_use_ssl` / `redis_backend_use_ssl`: keyword arguments of redis-py's SSLConnection."""
    options: dict[str, Any] = {"ssl_cert_reqs": ssl.CERT_REQUIRED, "ssl_check_hostname": True}
    for key, path in (
        ("ssl_ca_certs", settings.redis_tls_ca_file),
        ("ssl_certfile", settings.redis_tls_cert_file),
        ("ssl_keyfile", settings.redis_tls_key_file),
    ):
        if path is not None:
            options[key] = str(path)
    return options


def redis_tls_kwargs(url: str, settings: Settings | None = None) -> dict[str, Any]:
    """Extra `redis.Redis.from_url` arguments for `url`: the TLS options for rediss://, else none."""
    if not is_tls(url):
        return {}
    return redis_ssl_options(settings or load_settings())


def celery_ssl_options(settings: Settings) -> dict[str, Any]:
    """The Celery settings that carry the TLS options, for whichever URL is rediss://."""
    out: dict[str, Any] = {}
    if is_tls(settings.broker_url):
        out["broker_use_ssl"] = redis_ssl_options(settings)
    if is_tls(settings.redis_url):
        out["redis_backend_use_ssl"] = redis_ssl_options(settings)
        out["redbeat_redis_use_ssl"] = redis_ssl_options(settings)  # beat's lock and schedule
    return out
