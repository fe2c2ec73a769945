"""Rollback steps name the command they undo in a column (it was only recoverable by parsing the step key)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_step_undoes"
down_revision = "0002_dashboard_sessions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("campaign_steps", sa.Column("undoes", sa.Text, nullable=False, server_default=""))
    conn = op.get_bind()
    steps = sa.table("campaign_steps", sa.column("step_key", sa.Text), sa.column("kind", sa.Text),
                     sa.column("undoes", sa.Text))  # fmt: skip
    # Rollback keys end .../rollback/<stage>/<command undone>/<agent>: the last time they are parsed.
    rows = conn.execute(sa.select(steps.c.step_key).where(steps.c.kind == "rollback")).all()
    for (key,) in rows:
        conn.execute(sa.update(steps).where(steps.c.step_key == key).values(undoes=key.rsplit("/", 2)[1]))


def downgrade() -> None:
    with op.batch_alter_table("campaign_steps") as batch:
        batch.drop_column("undoes")
