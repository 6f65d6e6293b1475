"""PostgreSQL over TLS from settings: sslmode=verify-full with our own CA, through libpq and SQLAlchemy."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import create_engine, text

from sheen.embedded import EmbeddedPostgres, free_port
from sheen.settings import Settings, parse_settings
from tests.deploy_support import Pki, make_pki

SSL_IN_USE = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"


@pytest.fixture(scope="module")
def tls_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Pki]]:
    """A PostgreSQL of its own with `ssl = on`; its certificate names 127.0.0.1 only."""
    tmp = tmp_path_factory.mktemp("pg-tls")
    pki = make_pki(tmp / "pki", hosts=("127.0.0.1",))
    pg = EmbeddedPostgres(tmp / "data", free_port(), durable=False).start()
    try:
        pg.stop()
        shutil.copy(pki.cert, pg.data_dir / "server.crt")
        shutil.copy(pki.key, pg.data_dir / "server.key")
        (pg.data_dir / "server.key").chmod(0o600)
        with (pg.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n")
        pg.start()  # owns the copied files (it chowns the data folder to its server user)
        yield pg.port, pki
    finally:
        pg.stop()


def settings_for(port: int, host: str = "127.0.0.1", **tls: str) -> Settings:
    return parse_settings(
        {"SHEEN_DATABASE_URL": f"postgresql://postgres@{host}:{port}/sheen", **tls}
    )


def test_verify_full_connects_over_tls_through_libpq_and_sqlalchemy(tls_postgres):
    """SHEEN_DATABASE_SSLMODE=verify-full with SHEEN_DATABASE_SSLROOTCERT gives TLS connections."""
    # Given settings asking for verify-full against the test CA
    port, pki = tls_postgres
    settings = settings_for(
        port, SHEEN_DATABASE_SSLMODE="verify-full", SHEEN_DATABASE_SSLROOTCERT=str(pki.ca)
    )
    # When the fleet connects through libpq and through SQLAlchemy
    with psycopg.connect(settings.libpq_url) as conn:
        libpq_ssl = conn.execute(SSL_IN_USE).fetchone()
    engine = create_engine(settings.sqlalchemy_url)
    try:
        with engine.connect() as conn:
            sqlalchemy_ssl = conn.execute(text(SSL_IN_USE)).scalar_one()
    finally:
        engine.dispose()
    # Then both connections are encrypted
    assert libpq_ssl == (True,)
    assert sqlalchemy_ssl is True


def test_verify_full_refuses_a_wrong_host_or_an_unknown_ca(tls_postgres, tmp_path):
    """verify-full checks the host name and the chain: a name not in the certificate, or another CA, fails."""
    # Given the server's certificate names 127.0.0.1 only, and a second CA that did not sign it
    port, pki = tls_postgres
    other = make_pki(tmp_path / "other")
    # When the fleet connects as `localhost`, or trusting the other CA
    wrong_host = settings_for(
        port,
        "localhost",
        SHEEN_DATABASE_SSLMODE="verify-full",
        SHEEN_DATABASE_SSLROOTCERT=str(pki.ca),
    )
    wrong_ca = settings_for(
        port, SHEEN_DATABASE_SSLMODE="verify-full", SHEEN_DATABASE_SSLROOTCERT=str(other.ca)
    )
    # Then libpq refuses both
    with pytest.raises(psycopg.OperationalError, match="does not match host name"):
        psycopg.connect(wrong_host.libpq_url).close()
    with pytest.raises(psycopg.OperationalError, match="certificate verify failed"):
        psycopg.connect(wrong_ca.libpq_url).close()
