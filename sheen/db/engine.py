"""Engines: one pooled engine per process and database URL, created on first use."""

from __future__ import annotations

from sqlalchemy import Engine, create_engine

from sheen.settings import Settings, load_settings

_engines: dict[str, Engine] = {}


def get_engine(settings: Settings | None = None) -> Engine:
    """The process-wide engine for the configured database."""
    settings = settings or load_settings()
    url = settings.sqlalchemy_url
    engine = _engines.get(url)
    if engine is None:
        engine = create_engine(
            url,
            pool_pre_ping=True,
            pool_size=2,
            max_overflow=2,
            connect_args={"application_name": settings.service_name, "connect_timeout": 5},
        )
        _engines[url] = engine
    return engine


def dispose_engines() -> None:
    """Forget pooled connections: a forked child must never reuse its parent's sockets."""
    for engine in _engines.values():
        engine.dispose(close=False)
