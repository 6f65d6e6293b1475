"""Start-up refusals, Flower's auth rules and the TLS options, checked on Settings values."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from sheen.deploy import tls
from sheen.deploy.checks import EXAMPLE_PASSWORDS, unsafe_defaults, url_password
from sheen.deploy.flower import FlowerAuthError, flower_env
from sheen.settings import Environment, parse_settings

ROOT = Path(__file__).resolve().parents[2]
SAFE = {
    "SHEEN_ENV": "production",
    "SHEEN_BROKER_URL": "redis://:s3cret-broker-pw@redis:6379/0",
    "SHEEN_REDIS_URL": "redis://:s3cret-broker-pw@redis:6379/1",
    "SHEEN_DATABASE_URL": "postgresql://sheen:s3cret-db-pw@postgres:5432/sheen",
}


def test_example_passwords_are_the_placeholders_of_env_example():
    """Every password placeholder in .env.example is refused, and the list holds nothing else but `sheen`."""
    # Given the placeholders of .env.example
    values = set()
    for line in (ROOT / ".env.example").read_text().splitlines():
        key, _, value = line.partition("=")
        if key.endswith("PASSWORD"):
            values.add(value)
        if key == "FLOWER_BASIC_AUTH":
            values.add(value.partition(":")[2])
    # Then they are exactly the refused passwords (plus the old compose default)
    assert values == EXAMPLE_PASSWORDS - {"sheen"}


def test_production_settings_without_development_defaults_pass():
    """Real passwords and no HS256 secret: nothing to refuse."""
    # Given production settings with real passwords, When checked, Then nothing is refused
    assert unsafe_defaults(parse_settings(SAFE)) == []


@pytest.mark.parametrize("env", ["development", "ci"])
def test_development_and_ci_refuse_nothing(env):
    """Laptops and test runs keep their defaults (no password, an HS256 secret)."""
    # Given development defaults outside staging/production
    settings = parse_settings({"SHEEN_ENV": env, "SHEEN_JWT_SECRET": "x" * 40})
    # When checked, Then nothing is refused
    assert unsafe_defaults(settings) == []


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ({"SHEEN_JWT_SECRET": "y" * 40}, "SHEEN_JWT_SECRET"),
        ({"SHEEN_REDIS_URL": "redis://redis:6379/1"}, "SHEEN_REDIS_URL has no Redis password"),
        ({"SHEEN_BROKER_URL": "rediss://user:@redis:6380/0"}, "SHEEN_BROKER_URL has no Redis password"),
        ({"SHEEN_BROKER_URL": "redis://:change-me-redis@redis/0"}, "SHEEN_BROKER_URL carries an example"),
        ({"SHEEN_DATABASE_URL": "postgresql://sheen:sheen@db/sheen"}, "SHEEN_DATABASE_URL carries an example"),
    ],
)  # fmt: skip
def test_each_development_default_is_refused_in_staging(override, named):
    """Each development default is named in staging."""
    # Given staging settings with one development default, When checked
    problems = unsafe_defaults(parse_settings({**SAFE, "SHEEN_ENV": "staging", **override}))
    # Then exactly that one is refused, naming the setting
    assert len(problems) == 1
    assert problems[0].startswith(named)


def test_the_development_secret_file_is_named(tmp_path):
    """A JWT secret equal to `make run`'s state-folder secret is called the development secret."""
    # Given the state folder's development secret used as the production secret
    (tmp_path / "dev-jwt-secret").write_text("d" * 64 + "\n")
    settings = parse_settings(
        {**SAFE, "SHEEN_STATE_DIR": str(tmp_path), "SHEEN_JWT_SECRET": "d" * 64}
    )
    # Then the refusal says so
    assert "is the development secret" in unsafe_defaults(settings)[0]


def test_url_password_reads_userinfo_and_query():
    """Passwords are found in user:password@ and in ?password= (unix sockets), URL-decoded."""
    # Given URLs of each form, When read, Then the password comes out decoded
    assert url_password("redis://:p%40ss@h/0") == "p@ss"
    assert url_password("unix:///run/redis.sock?db=1&password=abc") == "abc"
    assert url_password("redis://h/0") == ""


def test_flower_requires_auth_outside_development(tmp_path):
    """Staging without credentials, with FLOWER_UNAUTHENTICATED_API, or with the example password is refused."""
    # Given each unsafe Flower environment, When prepared, Then it is refused
    with pytest.raises(FlowerAuthError, match="needs authentication"):
        flower_env({}, Environment.STAGING)
    with pytest.raises(FlowerAuthError, match="FLOWER_UNAUTHENTICATED_API"):
        flower_env(
            {"FLOWER_UNAUTHENTICATED_API": "true", "FLOWER_BASIC_AUTH": "ops:" + "p" * 16},
            Environment.CI,
        )
    with pytest.raises(FlowerAuthError, match="example password"):
        flower_env({"FLOWER_BASIC_AUTH": "ops:change-me-flower"}, Environment.PRODUCTION)
    with pytest.raises(FlowerAuthError, match="at least 12"):
        flower_env({"FLOWER_BASIC_AUTH": "ops:short"}, Environment.PRODUCTION)
    # Given credentials in a secret file, When prepared, Then Flower gets them in its variable
    secret = tmp_path / "flower_basic_auth"
    secret.write_text("ops:" + "q" * 20 + "\nsre:" + "r" * 20 + "\n")
    env = flower_env({"FLOWER_BASIC_AUTH_FILE": str(secret)}, Environment.PRODUCTION)
    assert env["FLOWER_BASIC_AUTH"] == f"ops:{'q' * 20},sre:{'r' * 20}"
    assert "FLOWER_BASIC_AUTH_FILE" not in env  # Flower refuses unknown FLOWER_* variables
    assert flower_env({}, Environment.DEVELOPMENT)["FLOWER_INSPECT_TIMEOUT"] == "5000"


def test_rediss_urls_get_verified_tls_options(tmp_path):
    """A rediss:// URL gets CERT_REQUIRED, host name checking and the configured files; redis:// none."""
    # Given a rediss:// broker, a plain Redis URL and a CA file
    ca = tmp_path / "ca.pem"
    settings = parse_settings(
        {
            "SHEEN_BROKER_URL": "rediss://:pw@redis:6380/0",
            "SHEEN_REDIS_URL": "redis://:pw@redis:6379/1",
            "SHEEN_REDIS_TLS_CA_FILE": str(ca),
        }
    )
    # When the Celery and redis-py options are built
    conf = tls.celery_ssl_options(settings)
    # Then only the rediss:// URL gets verified TLS
    assert conf["broker_use_ssl"] == {
        "ssl_cert_reqs": ssl.CERT_REQUIRED, "ssl_check_hostname": True, "ssl_ca_certs": str(ca),
    }  # fmt: skip
    assert "redis_backend_use_ssl" not in conf
    assert tls.redis_tls_kwargs(settings.redis_url, settings) == {}
    assert tls.redis_tls_kwargs(settings.broker_url, settings)["ssl_ca_certs"] == str(ca)


def test_libpq_tls_settings_reach_both_database_urls():
    """SHEEN_DATABASE_SSLMODE/SSLROOTCERT become libpq URI parameters; the URL's own value wins."""
    # Given sslmode and a root certificate as settings
    settings = parse_settings(
        {
            "SHEEN_DATABASE_URL": "postgresql://u:p@db.internal:5432/sheen",
            "SHEEN_DATABASE_SSLMODE": "verify-full",
            "SHEEN_DATABASE_SSLROOTCERT": "/run/secrets/pg-ca.pem",
        }
    )
    # Then both database URLs carry them (and a URL's own sslmode is kept)
    query = "sslmode=verify-full&sslrootcert=/run/secrets/pg-ca.pem"
    assert settings.libpq_url == f"postgresql://u:p@db.internal:5432/sheen?{query}"
    assert settings.sqlalchemy_url == f"postgresql+psycopg://u:p@db.internal:5432/sheen?{query}"
    own = parse_settings(
        {
            "SHEEN_DATABASE_URL": "postgresql://db/x?sslmode=require",
            "SHEEN_DATABASE_SSLMODE": "verify-full",
        }
    )
    assert own.libpq_url == "postgresql://db/x?sslmode=require"
    with pytest.raises(Exception, match="SHEEN_DATABASE_SSLMODE"):
        parse_settings({"SHEEN_DATABASE_SSLMODE": "verify-everything"})
