"""One covering index for the dashboard's grouped counts (Store.breakdown): the overview and the cameras page read
it instead of the table (10,000 cameras: 12-66 ms -> 2-5 ms per breakdown, bench/api_latency.py)."""

from __future__ import annotations

from alembic import op

revision = "0007_breakdown_index"
down_revision = "0006_quarantine"
branch_labels = None
depends_on = None

# The order CameraRepo.breakdown groups by (BREAKDOWN_ORDER), after vanished: a breakdown over a prefix of it is
# answered in index order, without a temporary b-tree.
COLUMNS = ["vanished", "origin", "manufacturer", "site", "risk_level", "lifecycle", "oem_rebrand", "covered",
           "cloud_reachable"]  # fmt: skip


def upgrade() -> None:
    op.create_index("cameras_breakdown", "cameras", COLUMNS)
    # (vanished, origin) is a prefix of the new index: one index fewer to write on every ingest.
    op.drop_index("cameras_v_origin", "cameras")


def downgrade() -> None:
    op.create_index("cameras_v_origin", "cameras", ["vanished", "origin"])
    op.drop_index("cameras_breakdown", "cameras")
