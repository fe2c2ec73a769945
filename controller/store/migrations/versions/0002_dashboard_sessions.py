"""Dashboard sessions in the store, so replicas behind a plain load balancer share them (no sticky sessions)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_dashboard_sessions"
down_revision = "0001_baseline"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dashboard_sessions",
        sa.Column("sid_hash", sa.Text, primary_key=True),
        sa.Column("csrf", sa.Text, nullable=False),
        sa.Column("username", sa.Text, nullable=False, server_default=""),
        sa.Column("created", sa.Double, nullable=False),
        sa.Column("seen", sa.Double, nullable=False),
    )
    op.create_index("dashboard_sessions_user", "dashboard_sessions", ["username"])
    op.create_index("dashboard_sessions_seen", "dashboard_sessions", ["seen"])


def downgrade() -> None:
    op.drop_table("dashboard_sessions")
