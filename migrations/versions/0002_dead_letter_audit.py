"""Dead-letter audit: every requeue and purge of a dead letter, append-only.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 20:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dead_letter_audit",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("letter_id", sa.Text(), nullable=False),
        sa.Column("job", sa.Text(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column(
            "details",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "action IN ('requeue', 'purge')", name=op.f("ck_dead_letter_audit_action_known")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dead_letter_audit")),
    )
    op.create_index("ix_dead_letter_audit_letter", "dead_letter_audit", ["letter_id"], unique=False)
    op.create_index(
        "ix_dead_letter_audit_created", "dead_letter_audit", ["created_at"], unique=False
    )
    # sheen_refuse_mutation() comes from 0001.
    op.execute(
        "CREATE TRIGGER dead_letter_audit_append_only BEFORE UPDATE OR DELETE ON dead_letter_audit "
        "FOR EACH ROW EXECUTE FUNCTION sheen_refuse_mutation()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS dead_letter_audit_append_only ON dead_letter_audit")
    op.drop_index("ix_dead_letter_audit_created", table_name="dead_letter_audit")
    op.drop_index("ix_dead_letter_audit_letter", table_name="dead_letter_audit")
    op.drop_table("dead_letter_audit")
