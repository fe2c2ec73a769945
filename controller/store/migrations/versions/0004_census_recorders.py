"""Census devices (found without credentials) and recorder channels (the cameras behind each recorder)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_census_recorders"
down_revision = "0003_step_undoes"
branch_labels = None
depends_on = None


def _cols(text: tuple[str, ...], ints: tuple[str, ...], floats: tuple[str, ...]) -> list[sa.Column[object]]:
    out: list[sa.Column[object]] = [sa.Column(n, sa.Text, nullable=False, server_default="") for n in text]
    out += [sa.Column(n, sa.Integer, nullable=False, server_default="0") for n in ints]
    out += [sa.Column(n, sa.Double, nullable=False, server_default="0") for n in floats]
    return out


def upgrade() -> None:
    op.create_table(
        "recorder_channels",
        sa.Column("recorder_id", sa.Text, primary_key=True),
        sa.Column("channel", sa.Integer, primary_key=True),
        *_cols(("agent_id", "site", "recorder_host", "address", "protocol", "status_detail", "model", "serial",
                "firmware", "macs", "origin", "camera_id", "fingerprint"), ("online", "covered"),
               ("confidence", "updated_at")),
        sa.Column("record", sa.LargeBinary, nullable=False),
    )  # fmt: skip
    op.create_index("recorder_channels_agent", "recorder_channels", ["agent_id"])
    op.create_index("recorder_channels_camera", "recorder_channels", ["camera_id"])
    op.create_index("recorder_channels_serial", "recorder_channels", ["serial"])
    op.create_table(
        "census_devices",
        sa.Column("agent_id", sa.Text, primary_key=True),
        sa.Column("device_key", sa.Text, primary_key=True),
        *_cols(("census_id", "site", "host", "macs", "serial", "model", "firmware", "device_class", "activation",
                "status", "sources", "origin", "camera_id"), ("port", "channels", "covered"),
               ("confidence", "seen_at")),
        sa.Column("record", sa.LargeBinary, nullable=False),
    )  # fmt: skip
    op.create_index("census_devices_status", "census_devices", ["status"])
    op.create_index("census_devices_origin", "census_devices", ["origin"])


def downgrade() -> None:
    op.drop_table("census_devices")
    op.drop_table("recorder_channels")
