"""Executions carry the agent's verdict on the action's goal (reached / partly_reached / not_reachable)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_execution_goal"
down_revision = "0004_census_recorders"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("executions", sa.Column("goal", sa.Text, nullable=False, server_default=""))


def downgrade() -> None:
    op.drop_column("executions", "goal")
