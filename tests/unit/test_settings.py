"""Settings parse from SHEEN_* variables and refuse bad values with one clear line."""

from __future__ import annotations

import json

import pytest

from sheen.errors import ConfigError
from sheen.settings import Environment, parse_settings


def test_defaults_need_no_variables(tmp_path):
    """With nothing set, the fleet has a usable development configuration."""
    settings = parse_settings({"SHEEN_STATE_DIR": str(tmp_path)})
    assert settings.env is Environment.DEVELOPMENT
    assert settings.broker_url.startswith("redis://")


@pytest.mark.parametrize(
    ("variable", "value", "fragment"),
    [
        ("SHEEN_ENV", "prod", "SHEEN_ENV=prod"),
        ("SHEEN_BROKER_URL", "not a url", "SHEEN_BROKER_URL"),
        ("SHEEN_DATABASE_URL", "mysql://x@h/db", "scheme must be one of"),
        ("SHEEN_REDIS_URL", "redis://", "URL has no host"),
        ("SHEEN_REGION", "EU WEST", "SHEEN_REGION"),
        ("SHEEN_JOB_BATCH_SIZE", "0", "SHEEN_JOB_BATCH_SIZE"),
        ("SHEEN_VISIBILITY_TIMEOUT_SECONDS", "soon", "SHEEN_VISIBILITY_TIMEOUT_SECONDS"),
    ],
)
def test_bad_values_name_the_variable(tmp_path, variable, value, fragment):
    """A bad value raises ConfigError on one line naming the variable."""
    with pytest.raises(ConfigError) as err:
        parse_settings({variable: value, "SHEEN_STATE_DIR": str(tmp_path)})
    message = str(err.value)
    assert fragment in message
    assert "\n" not in message


def test_password_in_a_bad_url_is_redacted(tmp_path):
    """A rejected URL is echoed without its password."""
    with pytest.raises(ConfigError) as err:
        parse_settings(
            {"SHEEN_DATABASE_URL": "mysql://u:hunter2@h/db", "SHEEN_STATE_DIR": str(tmp_path)}
        )
    assert "hunter2" not in str(err.value)


def test_embedded_services_file_fills_unset_urls(tmp_path):
    """URLs written by `make run` are used when the environment sets none; env wins otherwise."""
    (tmp_path / "services.json").write_text(
        json.dumps(
            {
                "broker_url": "redis://127.0.0.1:6390/0",
                "database_url": "postgresql://postgres@127.0.0.1:5440/sheen",
            }
        )
    )
    settings = parse_settings(
        {
            "SHEEN_STATE_DIR": str(tmp_path),
            "SHEEN_DATABASE_URL": "postgresql://postgres@db:5432/x",
        }
    )
    assert settings.broker_url == "redis://127.0.0.1:6390/0"
    assert settings.database_url == "postgresql://postgres@db:5432/x"
