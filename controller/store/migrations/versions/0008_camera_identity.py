"""Cameras carry their serial, MACs and device class as columns (the fleet answer reads them, not the records);
census devices carry the controller's write time (the fleet answer's version: seen_at is the agent's clock).

Rows written before this revision get empty values until their agent's next inventory report rewrites them;
until then the fleet answer matches those cameras by address and camera id only.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_camera_identity"
down_revision = "0007_breakdown_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("cameras", sa.Column("serial", sa.Text, nullable=False, server_default=""))
    op.add_column("cameras", sa.Column("macs", sa.Text, nullable=False, server_default="[]"))
    op.add_column("cameras", sa.Column("device_class", sa.Text, nullable=False, server_default=""))
    op.add_column("census_devices", sa.Column("written_at", sa.Double, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("census_devices") as b:
        b.drop_column("written_at")
    with op.batch_alter_table("cameras") as b:  # SQLite drops columns by copying the table
        b.drop_column("device_class")
        b.drop_column("macs")
        b.drop_column("serial")
