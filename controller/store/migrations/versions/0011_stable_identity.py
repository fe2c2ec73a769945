"""Stable camera identity: a camera is what it is (serial, MACs), its agent's reference (host:port) an attribute.

Existing cameras keep their ids (the audit chain, exports and tickets name them) and get their identity from the
record they carry (serial and MACs normalised, controller.identity); the agent's reference is the old id, which was
it. Executions record the reference their command was signed with, so a result is matched to the camera even after
it moved.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

from controller.identity import Identity
from protos.camfleet.v1 import camfleet_pb2 as pb

revision = "0011_stable_identity"
down_revision = "0010_event_seq"
branch_labels = None
depends_on = None

_cameras = sa.table(
    "cameras", sa.column("camera_id", sa.Text), sa.column("record", sa.LargeBinary), sa.column("serial", sa.Text),
    sa.column("macs", sa.Text), sa.column("device_class", sa.Text), sa.column("identified_by", sa.Text),
)  # fmt: skip
_macs = sa.table("camera_macs", sa.column("camera_id", sa.Text), sa.column("mac", sa.Text))
_NOT_EMPTY = sa.text("agent_ref <> ''")


def upgrade() -> None:
    for name, default in (("agent_ref", ""), ("identified_by", "address")):
        op.add_column("cameras", sa.Column(name, sa.Text, nullable=False, server_default=default))
    op.create_table(
        "camera_macs",
        sa.Column("camera_id", sa.Text, primary_key=True),
        sa.Column("mac", sa.Text, primary_key=True),
    )
    op.create_index("camera_macs_mac", "camera_macs", ["mac"])
    op.add_column("executions", sa.Column("target", sa.Text, nullable=False, server_default=""))
    conn = op.get_bind()
    conn.execute(sa.text("UPDATE cameras SET agent_ref = camera_id"))
    conn.execute(sa.text("UPDATE executions SET target = camera_id"))
    _backfill(conn)
    op.create_index("cameras_agent_ref", "cameras", ["agent_id", "agent_ref"], unique=True,
                    sqlite_where=_NOT_EMPTY, postgresql_where=_NOT_EMPTY)  # fmt: skip
    op.create_index("executions_target", "executions", ["command_id", "target"], unique=True)
    # The fleet answer reads only cameras that overlap (store.overlapping_cameras): serials and addresses seen
    # twice, totals by origin and class, and the answer's version (the latest write) answered from indexes.
    for name, cols in INDEXES.items():
        op.create_index(name, "cameras", cols)
    # Every query on these columns also filters vanished = 0: the (vanished, column) indexes of 0001 answer them.
    for name in SUPERSEDED:
        op.drop_index(name, "cameras")


INDEXES = {
    "cameras_serial": ["serial", "vanished"],
    "cameras_address": ["vanished", "site", "host"],
    "cameras_class": ["vanished", "origin", "device_class"],
    "cameras_updated": ["updated_at"],
}
SUPERSEDED = {"cameras_origin": ["origin"], "cameras_site": ["site"], "cameras_risk": ["risk_level"],
              "cameras_lifecycle": ["lifecycle"]}  # fmt: skip


def _backfill(conn: sa.Connection) -> None:
    """Each camera's identity from its stored record, in pages (a record that does not decode: none)."""
    last = ""
    while True:
        page = conn.execute(
            sa.select(_cameras.c.camera_id, _cameras.c.record)
            .where(_cameras.c.camera_id > last)
            .order_by(_cameras.c.camera_id)
            .limit(500)
        ).all()
        if not page:
            return
        updates, macs = [], []
        for camera_id, blob in page:
            try:
                rec = pb.CameraRecord.FromString(bytes(blob))
            except Exception:  # any undecodable record: the camera is known by its address only
                rec = pb.CameraRecord()
            ident = Identity.of(rec.identity.serial, rec.identity.macs)
            updates.append({"k": camera_id, "serial": ident.serial, "macs": json.dumps(list(ident.macs)),
                            "device_class": rec.device_class[:32], "how": ident.how})  # fmt: skip
            macs += [{"camera_id": camera_id, "mac": m} for m in ident.macs]
        conn.execute(
            sa.update(_cameras)
            .where(_cameras.c.camera_id == sa.bindparam("k"))
            .values(serial=sa.bindparam("serial"), macs=sa.bindparam("macs"),
                    device_class=sa.bindparam("device_class"), identified_by=sa.bindparam("how")),
            updates,
        )  # fmt: skip
        if macs:
            conn.execute(sa.insert(_macs), macs)
        last = page[-1][0]


def downgrade() -> None:
    for name, cols in SUPERSEDED.items():
        op.create_index(name, "cameras", cols)
    for name in INDEXES:
        op.drop_index(name, "cameras")
    op.drop_index("executions_target", "executions")
    op.drop_index("cameras_agent_ref", "cameras")
    with op.batch_alter_table("executions") as b:
        b.drop_column("target")
    op.drop_table("camera_macs")
    with op.batch_alter_table("cameras") as b:  # SQLite drops columns by copying the table
        for name in ("identified_by", "agent_ref"):
            b.drop_column(name)
