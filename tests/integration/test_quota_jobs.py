"""Daily usage reset and daily bonus reset against real PostgreSQL."""

from __future__ import annotations

from datetime import date

from sqlalchemy import text

from sheen.services.quotas import reset_daily_bonus, reset_daily_usage
from tests.factories import seed_users

DAY = date(2026, 11, 25)
YESTERDAY = date(2026, 11, 24)


def scalar(engine, sql, **params):
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar_one()


def test_daily_reset_walks_every_batch_boundary(db):
    """10,001 users in batches of 1,000 are all reset: 11 batches, no row missed."""
    # Given
    seed_users(db, 10_001, YESTERDAY, used_seconds=120)
    # When
    totals = reset_daily_usage(db, DAY, batch_size=1000)
    # Then
    assert totals.batches == 11
    assert totals.affected == 10_001
    assert (
        scalar(
            db,
            "SELECT count(*) FROM ai_time_balances WHERE daily_used_seconds = 0 AND usage_day = :d",
            d=DAY,
        )
        == 10_001
    )
    assert (
        scalar(db, "SELECT count(*) FROM usage_events WHERE kind = 'daily_reset' AND seconds = 120")
        == 10_001
    )


def test_daily_reset_is_idempotent_for_its_day(db):
    """Running the same day twice changes nothing the second time, not even the audit."""
    seed_users(db, 2_500, YESTERDAY)
    reset_daily_usage(db, DAY, batch_size=1000)
    with db.begin() as conn:  # usage accrues again during the day
        conn.execute(text("UPDATE ai_time_balances SET daily_used_seconds = 7"))
    again = reset_daily_usage(db, DAY, batch_size=1000)
    assert again.affected == 0
    assert scalar(db, "SELECT count(*) FROM ai_time_balances WHERE daily_used_seconds = 7") == 2_500
    assert scalar(db, "SELECT count(*) FROM usage_events") == 2_500


def test_daily_reset_skips_rows_already_on_the_day(db):
    """A user whose usage already counts for the new day keeps it (resume after a partial run)."""
    seed_users(db, 10, DAY, used_seconds=50)
    seed_users(db, 5, YESTERDAY, used_seconds=50)
    totals = reset_daily_usage(db, DAY, batch_size=3)
    assert totals.affected == 5
    assert scalar(db, "SELECT count(*) FROM ai_time_balances WHERE daily_used_seconds = 50") == 10


def test_bonus_reset_grants_plan_amount_within_monthly_cap(db):
    """Daily bonus is the plan amount, cut to what is left of the monthly cap, never negative."""
    # free plan: 120 s a day, 1,200 s a month
    seed_users(db, 3, YESTERDAY, bonus_used=0)
    seed_users(db, 2, YESTERDAY, bonus_used=1_150)
    seed_users(db, 1, YESTERDAY, bonus_used=5_000)
    totals = reset_daily_bonus(db, DAY, batch_size=2)
    assert totals.affected == 6
    with db.connect() as conn:
        rows = dict(
            conn.execute(
                text("SELECT daily_bonus_seconds, count(*) FROM ai_time_balances GROUP BY 1")
            ).all()
        )
    assert rows == {120: 3, 50: 2, 0: 1}


def test_bonus_reset_restarts_the_monthly_count_in_a_new_month(db):
    """On the first day of a month the monthly bonus used starts again from zero."""
    seed_users(db, 4, date(2026, 11, 30), bonus_used=1_200)
    reset_daily_bonus(db, date(2026, 12, 1), batch_size=1000)
    assert scalar(db, "SELECT min(daily_bonus_seconds) FROM ai_time_balances") == 120
    assert scalar(db, "SELECT max(monthly_bonus_used_seconds) FROM ai_time_balances") == 0


def test_bonus_reset_batches_and_idempotency(db):
    """10,001 balances in batches of 1,000 get one bonus each; a second run changes nothing."""
    seed_users(db, 10_001, YESTERDAY)
    first = reset_daily_bonus(db, DAY, batch_size=1000)
    second = reset_daily_bonus(db, DAY, batch_size=1000)
    assert (first.batches, first.affected, second.affected) == (11, 10_001, 0)
    assert scalar(db, "SELECT count(*) FROM usage_events WHERE kind = 'bonus_reset'") == 10_001


def test_bonus_reset_does_not_overwrite_bonus_spent_concurrently(db, services):
    """Bonus consumed while the reset waits on the row lock is kept and counts against the cap."""
    import threading

    import psycopg

    # Given a user who has used 1,000 of the 1,200 s monthly bonus, and a spend in flight
    seed_users(db, 1, YESTERDAY, bonus_used=1_000)
    spender = psycopg.connect(services.database_url)
    spender.execute("UPDATE ai_time_balances SET monthly_bonus_used_seconds = 1150")
    # When the reset runs (it blocks on the row) and the spend then commits
    done = threading.Event()
    thread = threading.Thread(
        target=lambda: (reset_daily_bonus(db, DAY, batch_size=10), done.set()), daemon=True
    )
    thread.start()
    assert not done.wait(1.0), "the reset must wait for the spender's row lock"
    spender.commit()
    spender.close()
    thread.join(30)
    # Then the spend survives and the new bonus respects what is left of the cap
    assert scalar(db, "SELECT monthly_bonus_used_seconds FROM ai_time_balances") == 1150
    assert scalar(db, "SELECT daily_bonus_seconds FROM ai_time_balances") == 50
