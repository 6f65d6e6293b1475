"""Done-marks in PostgreSQL: a task's effect and its key's done-mark commit together.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 10:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "job_done_keys",
        sa.Column("job", sa.Text(), nullable=False),
        sa.Column("idempotency_key", sa.Text(), nullable=False),
        sa.Column("task_id", sa.Text(), nullable=False),
        sa.Column(
            "done_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")
        ),
        sa.PrimaryKeyConstraint("job", "idempotency_key", name="pk_job_done_keys"),
    )
    op.create_index("ix_job_done_keys_done_at", "job_done_keys", ["done_at"])
    op.create_index("ix_job_done_keys_task_id", "job_done_keys", ["task_id"])
    op.create_index("ix_job_runs_job_key", "job_runs", ["job", "idempotency_key"])
    # Which retry of its task a run was: a row left `running` by a retry whose own
    # bookkeeping failed is closed as `retry`, not as a lost worker.
    op.add_column(
        "job_runs",
        sa.Column("retries", sa.SmallInteger(), nullable=False, server_default=sa.text("0")),
    )


def downgrade() -> None:
    op.drop_index("ix_job_runs_job_key", table_name="job_runs")
    op.drop_column("job_runs", "retries")
    op.drop_index("ix_job_done_keys_task_id", table_name="job_done_keys")
    op.drop_index("ix_job_done_keys_done_at", table_name="job_done_keys")
    op.drop_table("job_done_keys")
