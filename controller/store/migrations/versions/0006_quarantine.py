"""Quarantine: messages from agents the hub could not apply, with the reason (supervised ingest, issue 13)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_quarantine"
down_revision = "0005_execution_goal"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "quarantine",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True
        ),
        sa.Column("at", sa.Double, nullable=False),
        sa.Column("topic", sa.Text, nullable=False),
        sa.Column("agent_id", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("quarantine")
