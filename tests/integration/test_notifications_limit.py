"""The 12-hour limit is the database's: race-free with and without btree_gist."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from sheen.notifications.store import NewNotification, record
from tests.notifications_support import add_user, pgserver_database, rows


@pytest.fixture(scope="module")
def embedded_engine(tmp_path_factory) -> Iterator[object]:
    """A migrated database on pgserver's PostgreSQL, which has no btree_gist."""
    with pgserver_database(tmp_path_factory.mktemp("tsn")) as url:
        engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"), pool_size=60)
        yield engine
        engine.dispose()


def _mode(engine) -> str:
    with engine.connect() as conn:
        gist = conn.execute(
            text("SELECT 1 FROM pg_constraint WHERE conname = 'ex_tsn_one_per_12h'")
        ).first()
        trigger = conn.execute(
            text("SELECT 1 FROM pg_trigger WHERE tgname = 'trust_safety_notifications_rate_limit'")
        ).first()
    return "exclusion" if gist and not trigger else "trigger" if trigger and not gist else "none"


def _race(engine, user_id: uuid.UUID, n: int = 50) -> list[str]:
    """n threads, each recording one request for the same user and category at once."""
    barrier = threading.Barrier(n)
    outcomes: list[str] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        new = NewNotification(user_id, "account_warning", "en", {}, f"race-{user_id}-{i}")
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))  # connected before the barrier
            conn.commit()
            barrier.wait()
            with conn.begin():
                recorded = record(conn, new, enabled=True)
        with lock:
            outcomes.append(recorded.suppressed_reason or recorded.status)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return sorted(outcomes)


@pytest.fixture
def big_pool_engine(db, services) -> Iterator[object]:
    engine = create_engine(
        services.database_url.replace("postgresql://", "postgresql+psycopg://"), pool_size=60
    )
    yield engine
    engine.dispose()


def test_exclusion_constraint_admits_one_of_50_concurrent_records(big_pool_engine):
    """With btree_gist: 50 concurrent records for one user+category -> 1 pending, 49 rate_limited."""
    # Given the machine's PostgreSQL (btree_gist: the exclusion constraint)
    assert _mode(big_pool_engine) == "exclusion"
    user = add_user(big_pool_engine)
    # When 50 transactions record a notification at the same moment
    outcomes = _race(big_pool_engine, user)
    # Then exactly one counts and every other one is recorded rate_limited
    assert outcomes == ["pending"] + ["rate_limited"] * 49
    assert len(rows(big_pool_engine, user)) == 50


def test_locking_trigger_admits_one_of_50_concurrent_records(embedded_engine):
    """Without btree_gist (pgserver): the same 50-way race gives the same 1 + 49."""
    # Given pgserver's PostgreSQL, where the migration installed the locking trigger
    assert _mode(embedded_engine) == "trigger"
    user = add_user(embedded_engine)
    # When
    outcomes = _race(embedded_engine, user)
    # Then
    assert outcomes == ["pending"] + ["rate_limited"] * 49


@pytest.mark.parametrize("which", ["system", "embedded"])
def test_limit_is_per_category_and_ends_after_12_hours(which, request):
    """Another category is not limited; a notification 12 h after the last one counts again."""
    engine = request.getfixturevalue("big_pool_engine" if which == "system" else "embedded_engine")
    user = add_user(engine)

    def rec(category: str, key: str, at: str | None = None) -> str:
        with engine.begin() as conn:
            new = NewNotification(user, category, "en", {}, key)
            recorded = record(conn, new, enabled=True)
            if at:
                conn.execute(
                    text(
                        "UPDATE trust_safety_notifications SET created_at = created_at - CAST(:at AS interval) WHERE id = :id"
                    ),
                    {"at": at, "id": recorded.id},
                )
            return recorded.suppressed_reason or recorded.status

    # Given a warning recorded 12 h and 1 s ago
    assert rec("account_warning", f"a-{user}", at="12 hours 1 second") == "pending"
    # When a new warning and a content notice arrive now
    # Then both count: the old one's window is over, and categories are separate
    assert rec("account_warning", f"b-{user}") == "pending"
    assert rec("content_violation", f"c-{user}") == "pending"
    # And a third warning within the window is rate_limited
    assert rec("account_warning", f"d-{user}") == "rate_limited"


def test_kill_switch_records_suppressed_without_counting(big_pool_engine):
    """Kill switch off: the request is recorded suppressed kill_switch and does not block a later one."""
    # Given
    user = add_user(big_pool_engine)
    # When one request arrives with notifications off, then one with them on
    with big_pool_engine.begin() as conn:
        off = record(conn, NewNotification(user, "account_warning", "en", {}, f"k1-{user}"), False)
    with big_pool_engine.begin() as conn:
        on = record(conn, NewNotification(user, "account_warning", "en", {}, f"k2-{user}"), True)
    # Then
    assert (off.status, off.suppressed_reason) == ("suppressed", "kill_switch")
    assert (on.status, on.suppressed_reason) == ("pending", None)


def test_updated_at_follows_every_update(big_pool_engine):
    """The trigger keeps updated_at: an UPDATE moves it forward."""
    # Given
    user = add_user(big_pool_engine)
    with big_pool_engine.begin() as conn:
        rec = record(conn, NewNotification(user, "account_warning", "en", {}, f"u-{user}"), True)
    before = rows(big_pool_engine, user)[0]["updated_at"]
    # When
    with big_pool_engine.begin() as conn:
        conn.execute(
            text("UPDATE trust_safety_notifications SET read_at = now() WHERE id = :id"),
            {"id": rec.id},
        )
    # Then
    assert rows(big_pool_engine, user)[0]["updated_at"] > before


def test_row_level_security_shows_a_user_only_their_rows(big_pool_engine, services):
    """A non-owner role sees only the rows of app.current_user_id; app_admin sees all."""
    # Given two users with one notification each, and a plain role with SELECT
    alice, bob = add_user(big_pool_engine), add_user(big_pool_engine)
    for user in (alice, bob):
        with big_pool_engine.begin() as conn:
            record(conn, NewNotification(user, "account_warning", "en", {}, f"r-{user}"), True)
    role = f"tsn_reader_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(services.database_url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} NOLOGIN")
        conn.execute(f"GRANT SELECT ON trust_safety_notifications, appeal_tickets TO {role}")
        conn.execute(f"GRANT USAGE ON SCHEMA auth TO {role}")
    try:
        with psycopg.connect(services.database_url) as conn:
            conn.execute(f"SET ROLE {role}")
            # When the role reads without a user, as alice, and through app_admin
            nobody = conn.execute("SELECT count(*) FROM trust_safety_notifications").fetchone()
            conn.execute("SELECT set_config('app.current_user_id', %s, false)", (str(alice),))
            mine = conn.execute("SELECT user_id FROM trust_safety_notifications").fetchall()
            conn.execute("RESET ROLE")
            conn.execute("SET ROLE app_admin")
            admin = conn.execute("SELECT count(*) FROM trust_safety_notifications").fetchone()
        # Then nothing without a user, only alice's as alice, both through app_admin
        assert nobody == (0,)
        assert mine == [(alice,)]
        assert admin == (2,)
    finally:
        with psycopg.connect(services.database_url, autocommit=True) as conn:
            conn.execute(f"REVOKE ALL ON trust_safety_notifications, appeal_tickets FROM {role}")
            conn.execute(f"REVOKE USAGE ON SCHEMA auth FROM {role}")
            conn.execute(f"DROP ROLE {role}")


def test_a_counted_row_cannot_be_inserted_around_the_limit(big_pool_engine):
    """Even a direct INSERT by another writer cannot add a second counted row in the window."""
    # Given one pending warning
    user = add_user(big_pool_engine)
    with big_pool_engine.begin() as conn:
        record(conn, NewNotification(user, "account_warning", "en", {}, f"d1-{user}"), True)
    # When another writer inserts a second pending one without ON CONFLICT
    # Then the database refuses it
    with pytest.raises(DBAPIError, match="ex_tsn_one_per_12h"), big_pool_engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO trust_safety_notifications (user_id, category, locale, status, request_key)"
                " VALUES (:u, 'account_warning', 'en', 'pending', :k)"
            ),
            {"u": user, "k": f"d2-{user}"},
        )
