"""Agents carry the sequence number of their last applied event: a replayed or older event is refused, as an
older inventory report is (issue 13: every report needs a growing sequence number)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_event_seq"
down_revision = "0009_controller_secrets"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("agents", sa.Column("event_seq", sa.BigInteger, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("agents") as b:  # SQLite drops columns by copying the table
        b.drop_column("event_seq")
