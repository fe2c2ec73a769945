"""The fleet revision: a counter bumped with every write that changes the fleet answer (issue 15's recomputes)."""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0013_fleet_revision"
down_revision = "0012_one_owner_per_device"
branch_labels = None
depends_on = None


def upgrade() -> None:
    t = op.create_table(
        "fleet_revision",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("rev", sa.BigInteger, nullable=False),
    )
    # A random start, not 0: replicas compare the revision for equality only, and a table dropped and made again
    # (a downgrade and an upgrade) must not count from a value an answer cached before was computed at.
    op.bulk_insert(t, [{"id": 1, "rev": secrets.randbits(62)}])


def downgrade() -> None:
    op.drop_table("fleet_revision")
