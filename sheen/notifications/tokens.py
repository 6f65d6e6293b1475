"""Appeal links: a signed, expiring token carrying the notification id and the user id.

itsdangerous (already a Flask dependency) signs with HMAC-SHA256 under a salt of our own,
so the token is useless for anything but an appeal; its timestamp gives the expiry.
Without `SHEEN_APPEAL_TOKEN_SECRET`, development and CI use a secret kept in the state
folder (shared by the workers and `sheen-ops` of one checkout); staging and production
refuse to sign or verify without a configured secret.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode, urlsplit, urlunsplit

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from sheen.errors import ConfigError, SheenError
from sheen.settings import Settings

SALT = "sheen.trust-safety.appeal.v1"
DEV_SECRET_FILE = "dev-appeal-secret"  # noqa: S105 - a file name, not a secret


class AppealRefused(SheenError):
    """An appeal was refused: forged or expired token, or not the user's notification."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"appeal refused ({reason}): {detail}")
        self.reason = reason


@dataclass(frozen=True)
class AppealClaims:
    notification_id: uuid.UUID
    user_id: uuid.UUID


def _secret(settings: Settings) -> str:
    if settings.appeal_token_secret is not None:
        return settings.appeal_token_secret.get_secret_value()
    if settings.is_production_like:
        raise ConfigError(f"SHEEN_APPEAL_TOKEN_SECRET is required in {settings.env.value}")
    from sheen.sidecar.dev_secret import dev_secret

    return dev_secret(settings.state_dir, DEV_SECRET_FILE)


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(_secret(settings), salt=SALT)


def mint(settings: Settings, notification_id: uuid.UUID, user_id: uuid.UUID) -> str:
    return str(_serializer(settings).dumps({"n": str(notification_id), "u": str(user_id)}))


def verify(settings: Settings, token: str) -> AppealClaims:
    """The claims of a valid token, or AppealRefused naming why not."""
    try:
        data = _serializer(settings).loads(token, max_age=settings.appeal_token_ttl_seconds)
    except SignatureExpired:
        raise AppealRefused("token_expired", "the appeal link has expired") from None
    except BadSignature:
        raise AppealRefused("token_invalid", "the appeal link is not valid") from None
    try:
        return AppealClaims(uuid.UUID(data["n"]), uuid.UUID(data["u"]))
    except (KeyError, TypeError, ValueError):
        raise AppealRefused("token_invalid", "the appeal link is not valid") from None


def appeal_url(settings: Settings, token: str) -> str:
    """The one-click link: the configured base URL with `token=` added to its query."""
    parts = urlsplit(settings.appeal_base_url)
    query = f"{parts.query}&" if parts.query else ""
    return urlunsplit(parts._replace(query=query + urlencode({"token": token})))


def expires_at(settings: Settings, issued_at: datetime | None = None) -> datetime:
    issued = issued_at or datetime.now(UTC)
    return issued + timedelta(seconds=settings.appeal_token_ttl_seconds)
