"""Trust & safety notifications and appeal tickets.

The 12-hour limit lives in the database, in one of two equally race-free forms:
- btree_gist available: an exclusion constraint over (user, category, 12 h window) on the
  counted rows (pending or sent); the fleet inserts with ON CONFLICT DO NOTHING.
- btree_gist missing (the embedded pgserver PostgreSQL): a BEFORE INSERT trigger takes a
  transaction-scoped advisory lock on (user, category), then looks for a counted row in the
  window with a fresh snapshot, and turns the new row into `suppressed` / `rate_limited`.

Row-level security on both tables keys on `app.current_user_id`; the role `app_admin`
(created only when absent, never dropped: roles are cluster-wide) sees every row.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 10:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TSN = "trust_safety_notifications"
CATEGORIES = ("content_violation", "account_warning", "temporary_restriction", "appeal_update")
COUNTED = "status IN ('pending', 'sent')"
CURRENT_USER = "NULLIF(current_setting('app.current_user_id', true), '')::uuid"

FUNCTIONS = f"""
CREATE FUNCTION sheen_tsn_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END $$;

-- The limit's window: [t, t + 12 h). Immutable (hours do not depend on the time zone),
-- so the exclusion constraint may index it.
CREATE FUNCTION sheen_tsn_window(t timestamptz) RETURNS tstzrange
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT tstzrange(t, t + interval '12 hours') $$;

-- Without btree_gist: serialise inserts per (user, category), then check with a snapshot
-- taken after the lock (each statement of a volatile function gets its own in READ
-- COMMITTED), so a concurrent insert that committed first is always seen.
CREATE FUNCTION sheen_tsn_rate_limit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status IN ('pending', 'sent') THEN
        PERFORM pg_advisory_xact_lock(hashtextextended(NEW.user_id::text || '/' || NEW.category, 7007));
        IF EXISTS (
            SELECT 1 FROM {TSN}
            WHERE user_id = NEW.user_id AND category = NEW.category AND {COUNTED}
              AND sheen_tsn_window(created_at) && sheen_tsn_window(NEW.created_at)
        ) THEN
            NEW.status := 'suppressed';
            NEW.suppressed_reason := 'rate_limited';
        END IF;
    END IF;
    RETURN NEW;
END $$;
"""

ADMIN_ROLE = """
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'app_admin') THEN
        CREATE ROLE app_admin NOLOGIN;
    END IF;
END $$;
"""

TRY_BTREE_GIST = """
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS btree_gist;
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'btree_gist unavailable (%): the 12-hour limit uses the locking trigger', SQLERRM;
END $$;
"""


def _ts(name: str, nullable: bool = False) -> sa.Column:
    default = sa.text("now()") if not nullable else None
    return sa.Column(name, sa.DateTime(timezone=True), server_default=default, nullable=nullable)


def upgrade() -> None:
    op.add_column("users", sa.Column("email", sa.Text()), schema="auth")
    op.execute(FUNCTIONS)
    in_categories = "category IN ({})".format(", ".join(f"'{c}'" for c in CATEGORIES))
    op.create_table(
        TSN,
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("category", sa.Text(), nullable=False),
        sa.Column("locale", sa.Text(), nullable=False),
        sa.Column(
            "params",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("suppressed_reason", sa.Text()),
        sa.Column("failure_reason", sa.Text()),
        sa.Column("request_key", sa.Text(), nullable=False),
        sa.Column("attempts", sa.SmallInteger(), server_default=sa.text("0"), nullable=False),
        _ts("created_at"),
        _ts("sent_at", nullable=True),
        _ts("read_at", nullable=True),
        _ts("updated_at"),
        sa.CheckConstraint(in_categories, name=f"ck_{TSN}_category_known"),
        sa.CheckConstraint("locale IN ('en', 'es', 'fr')", name=f"ck_{TSN}_locale_known"),
        sa.CheckConstraint("jsonb_typeof(params) = 'object'", name=f"ck_{TSN}_params_object"),
        sa.CheckConstraint(
            "status IN ('pending', 'sent', 'suppressed', 'failed')", name=f"ck_{TSN}_status_known"
        ),
        sa.CheckConstraint(
            "(status = 'suppressed') = (suppressed_reason IS NOT NULL)"
            " AND (suppressed_reason IS NULL OR suppressed_reason IN ('rate_limited', 'kill_switch'))",
            name=f"ck_{TSN}_suppressed_has_reason",
        ),
        sa.CheckConstraint(
            "status <> 'failed' OR failure_reason IS NOT NULL", name=f"ck_{TSN}_failed_has_reason"
        ),
        sa.CheckConstraint("(status = 'sent') = (sent_at IS NOT NULL)", name=f"ck_{TSN}_sent_has_time"),
        sa.ForeignKeyConstraint(["user_id"], ["auth.users.id"], name=f"fk_{TSN}_user_id_users"),
        sa.PrimaryKeyConstraint("id", name=f"pk_{TSN}"),
        sa.UniqueConstraint("request_key", name=f"uq_{TSN}_request_key"),
    )
    op.create_index(
        "ix_tsn_unread_cat_created",
        TSN,
        ["user_id", "category", sa.text("created_at DESC")],
        postgresql_where=sa.text("read_at IS NULL"),
    )
    op.create_index(
        "ix_tsn_user_status_created", TSN, ["user_id", "status", sa.text("created_at DESC")]
    )
    # The limit's look-up (the trigger's, and the constraint's recheck): counted rows by time.
    op.create_index(
        "ix_tsn_counted_user_cat_created",
        TSN,
        ["user_id", "category", "created_at"],
        postgresql_where=sa.text(COUNTED),
    )
    op.create_table(
        "appeal_tickets",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("notification_id", sa.UUID(), nullable=False),
        sa.Column("user_message", sa.Text(), nullable=False),
        sa.Column("context", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("status", sa.Text(), server_default=sa.text("'open'"), nullable=False),
        _ts("forwarded_at", nullable=True),
        _ts("created_at"),
        _ts("updated_at"),
        sa.CheckConstraint(
            "status IN ('open', 'in_review', 'resolved')", name="ck_appeal_tickets_status_known"
        ),
        sa.CheckConstraint(
            "jsonb_typeof(context) = 'object'", name="ck_appeal_tickets_context_object"
        ),
        sa.CheckConstraint(
            "char_length(user_message) <= 5000", name="ck_appeal_tickets_message_bounded"
        ),
        sa.ForeignKeyConstraint(
            ["notification_id"], [f"{TSN}.id"], name=f"fk_appeal_tickets_notification_id_{TSN}"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_appeal_tickets"),
        sa.UniqueConstraint("notification_id", name="uq_appeal_tickets_notification_id"),
    )
    op.create_index(
        "ix_appeal_tickets_status_created",
        "appeal_tickets",
        ["status", sa.text("created_at DESC")],
    )
    for table in (TSN, "appeal_tickets"):
        op.execute(
            f"CREATE TRIGGER {table}_touch BEFORE UPDATE ON {table}"
            " FOR EACH ROW EXECUTE FUNCTION sheen_tsn_touch()"
        )
    _rate_limit()
    _row_level_security()


def _rate_limit() -> None:
    op.execute(TRY_BTREE_GIST)
    has_gist = (
        op.get_bind()
        .execute(sa.text("SELECT 1 FROM pg_extension WHERE extname = 'btree_gist'"))
        .first()
    )
    if has_gist:
        op.execute(
            f"ALTER TABLE {TSN} ADD CONSTRAINT ex_tsn_one_per_12h EXCLUDE USING gist"
            " (user_id WITH =, category WITH =, sheen_tsn_window(created_at) WITH &&)"
            f" WHERE ({COUNTED})"
        )
    else:
        op.execute(
            f"CREATE TRIGGER {TSN}_rate_limit BEFORE INSERT ON {TSN}"
            " FOR EACH ROW EXECUTE FUNCTION sheen_tsn_rate_limit()"
        )


def _row_level_security() -> None:
    op.execute(ADMIN_ROLE)
    op.execute(f"ALTER TABLE {TSN} ENABLE ROW LEVEL SECURITY")
    op.execute(f"CREATE POLICY tsn_owner ON {TSN} USING (user_id = {CURRENT_USER})")
    op.execute(f"CREATE POLICY tsn_admin ON {TSN} TO app_admin USING (true) WITH CHECK (true)")
    op.execute("ALTER TABLE appeal_tickets ENABLE ROW LEVEL SECURITY")
    op.execute(
        "CREATE POLICY appeal_owner ON appeal_tickets USING (EXISTS ("
        f"SELECT 1 FROM {TSN} n WHERE n.id = notification_id AND n.user_id = {CURRENT_USER}))"
    )
    op.execute(
        "CREATE POLICY appeal_admin ON appeal_tickets TO app_admin USING (true) WITH CHECK (true)"
    )
    op.execute(f"GRANT SELECT, INSERT, UPDATE ON {TSN}, appeal_tickets TO app_admin")


def downgrade() -> None:
    op.execute(f"REVOKE ALL ON {TSN}, appeal_tickets FROM app_admin")
    op.drop_table("appeal_tickets")
    op.drop_table(TSN)
    op.execute("DROP FUNCTION sheen_tsn_rate_limit()")
    op.execute("DROP FUNCTION sheen_tsn_window(timestamptz)")
    op.execute("DROP FUNCTION sheen_tsn_touch()")
    op.drop_column("users", "email", schema="auth")
    # btree_gist and the app_admin role stay: other schemas or databases may use them.
