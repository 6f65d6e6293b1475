"""Appeal tokens (signed, expiring, bound to notification and user) and the kill switch setting."""

from __future__ import annotations

import time
import uuid

import itsdangerous
import pytest

from sheen.errors import ConfigError
from sheen.notifications import tokens
from sheen.notifications.tokens import AppealRefused
from sheen.settings import Settings, parse_settings

SECRET = "appeal-test-secret-" + "s" * 32


def _settings(**overrides) -> Settings:
    return Settings(appeal_token_secret=SECRET, **overrides)


def test_a_minted_token_verifies_to_its_notification_and_user():
    """Round trip: the claims come back exactly."""
    settings = _settings()
    nid, uid = uuid.uuid4(), uuid.uuid4()
    claims = tokens.verify(settings, tokens.mint(settings, nid, uid))
    assert (claims.notification_id, claims.user_id) == (nid, uid)


def test_forged_other_secret_and_expired_tokens_are_refused(monkeypatch):
    """A changed character, another secret or an old timestamp: AppealRefused with the reason."""
    settings = _settings(appeal_token_ttl_seconds=60)
    token = tokens.mint(settings, uuid.uuid4(), uuid.uuid4())
    with pytest.raises(AppealRefused) as forged:
        tokens.verify(settings, token[:-2] + ("xx" if not token.endswith("xx") else "yy"))
    assert forged.value.reason == "token_invalid"
    with pytest.raises(AppealRefused, match="token_invalid"):
        tokens.verify(_settings().model_copy(update={"appeal_token_secret": None}), token)
    monkeypatch.setattr(
        itsdangerous.TimestampSigner, "get_timestamp", lambda _s: int(time.time()) - 120
    )
    old = tokens.mint(settings, uuid.uuid4(), uuid.uuid4())
    monkeypatch.undo()
    with pytest.raises(AppealRefused) as expired:
        tokens.verify(settings, old)
    assert expired.value.reason == "token_expired"


def test_a_token_of_another_salt_is_refused():
    """A token the same secret signed for another purpose is not an appeal token."""
    settings = _settings()
    other = itsdangerous.URLSafeTimedSerializer(SECRET, salt="something-else").dumps(
        {"n": str(uuid.uuid4()), "u": str(uuid.uuid4())}
    )
    with pytest.raises(AppealRefused, match="token_invalid"):
        tokens.verify(settings, other)


def test_the_link_keeps_the_base_urls_own_query():
    """The token is added to the configured base URL's query string."""
    settings = _settings(appeal_base_url="https://app.example/appeal?src=mail")
    assert tokens.appeal_url(settings, "abc") == "https://app.example/appeal?src=mail&token=abc"


def test_production_refuses_to_sign_without_a_secret():
    """No SHEEN_APPEAL_TOKEN_SECRET in production: a configuration error, not a weak key."""
    settings = Settings(env="production")
    with pytest.raises(ConfigError, match="SHEEN_APPEAL_TOKEN_SECRET"):
        tokens.mint(settings, uuid.uuid4(), uuid.uuid4())


@pytest.mark.parametrize(
    ("environ", "enabled"),
    [({}, True), ({"SHEEN_TRUST_SAFETY_NOTIFICATIONS": "off"}, False),
     ({"TRUST_SAFETY_NOTIFICATIONS": "off"}, False),
     ({"SHEEN_TRUST_SAFETY_NOTIFICATIONS": "on", "TRUST_SAFETY_NOTIFICATIONS": "OFF"}, False),
     ({"SHEEN_TRUST_SAFETY_NOTIFICATIONS": "off", "TRUST_SAFETY_NOTIFICATIONS": "on"}, False),
     ({"TRUST_SAFETY_NOTIFICATIONS": "on"}, True)],
)  # fmt: skip
def test_kill_switch_is_read_under_both_names(environ, enabled):
    """Either name saying off turns notifications off."""
    assert parse_settings(environ).trust_safety_notifications is enabled


def test_a_bad_kill_switch_value_names_the_variable():
    """A value that is not on/off stops start-up with one line naming the setting."""
    with pytest.raises(ConfigError, match="SHEEN_TRUST_SAFETY_NOTIFICATIONS=maybe"):
        parse_settings({"SHEEN_TRUST_SAFETY_NOTIFICATIONS": "maybe"})
