"""structlog set-up: JSON in staging/production, readable in development, never personal data."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from sheen.settings import Settings

# Keys that may carry personal data: dropped whatever their value.
PII_KEYS = frozenset(
    {
        "email",
        "e_mail",
        "name",
        "full_name",
        "first_name",
        "last_name",
        "username",
        "ip",
        "ip_address",
        "remote_addr",
        "client_ip",
        "phone",
        "address",
    }
)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
_IPV4 = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b")
_IPV6 = re.compile(r"\b(?:[0-9a-fA-F]{1,4}:){2,7}[0-9a-fA-F]{1,4}\b")
# Loopback addresses are configuration, not a person.
_LOOPBACK = {"127.0.0.1", "0.0.0.0"}  # noqa: S104


def _mask(text: str) -> str:
    text = _EMAIL.sub("[email]", text)
    text = _IPV4.sub(lambda m: m.group(0) if m.group(0) in _LOOPBACK else "[ip]", text)
    return _IPV6.sub("[ip]", text)


def redact(value: Any) -> Any:
    """A copy of a payload fit to show an operator: personal-data keys and values masked."""
    if isinstance(value, dict):
        return {
            k: "[redacted]" if str(k).lower() in PII_KEYS else redact(v) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return _mask(value) if isinstance(value, str) else value


def drop_personal_data(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Drop keys that name personal data and mask emails and IPs inside string values."""
    for key in list(event_dict):
        if key.lower() in PII_KEYS:
            event_dict[key] = "[redacted]"
        elif isinstance(event_dict[key], str):
            event_dict[key] = _mask(event_dict[key])
    return event_dict


def configure_logging(settings: Settings) -> None:
    """Configure structlog and route stdlib logging (Celery, kombu) through it."""
    as_json = settings.log_format == "json" or (
        settings.log_format == "auto" and settings.is_production_like
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        drop_personal_data,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        # filter_by_level first: a record below the level costs one check, not the whole chain
        # (two job_* lines per task, at WARNING, would otherwise be rendered and dropped).
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info if as_json else _identity,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)


def _identity(_l: Any, _m: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    return event_dict
