"""Controller secrets: random keys every replica shares and a restart keeps (the dashboard's device cookies)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_controller_secrets"
down_revision = "0008_camera_identity"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "controller_secrets",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("value", sa.LargeBinary, nullable=False),
        sa.Column("created", sa.Double, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("controller_secrets")
