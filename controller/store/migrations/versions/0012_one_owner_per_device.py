"""One owner per device: cameras of two agents that are one device (stored twice before first sight was race-free,
when two agents reported a new device at the same moment) are repaired, the oldest kept.

Before, each agent's reports of such a device were refused as naming the other's camera, for ever. Of the
cameras of different agents that are one device (controller.identity's same_device), the one first seen (its
earliest history entry; the smaller id on a tie) stays as it is and keeps the device. Each other one is retired,
not deleted: it keeps its id, lifecycle, tags, history and executions (the audit chain and tickets name it), and
is marked vanished; it loses its serial, MACs and agent reference, so it no longer names the device, and gets a
history entry {"duplicate_of": [null, <the camera kept>]}. Its agent's reports of the device are then refused as
another agent's camera, as for any device first reported elsewhere, until an admin gives the kept camera to that
agent (POST /api/v1/cameras/{id}/owner); an open foreign_report alert says so now, per camera retired. Cameras of
one agent that are one device are left alone (an agent may reach a device at two addresses).

Downgrade changes nothing: a retired camera's identity is not restored (it would be a duplicate again).
"""

from __future__ import annotations

import json
import time
from typing import NamedTuple

import sqlalchemy as sa
from alembic import op

revision = "0012_one_owner_per_device"
down_revision = "0011_stable_identity"
branch_labels = None
depends_on = None

_cameras = sa.table(
    "cameras", sa.column("camera_id", sa.Text), sa.column("agent_id", sa.Text), sa.column("serial", sa.Text),
    sa.column("macs", sa.Text), sa.column("identified_by", sa.Text), sa.column("agent_ref", sa.Text),
    sa.column("vanished", sa.Integer), sa.column("updated_at", sa.Float),
)  # fmt: skip
_macs = sa.table("camera_macs", sa.column("camera_id", sa.Text), sa.column("mac", sa.Text))
_history = sa.table(
    "camera_history", sa.column("camera_id", sa.Text), sa.column("at", sa.Float), sa.column("change", sa.Text)
)
_alerts = sa.table(
    "alerts", sa.column("at", sa.Float), sa.column("kind", sa.Text), sa.column("camera_id", sa.Text),
    sa.column("matched_camera_id", sa.Text), sa.column("message", sa.Text), sa.column("details", sa.Text),
    sa.column("acknowledged_by", sa.Text), sa.column("acknowledged_at", sa.Float),
)  # fmt: skip
_agents = sa.table("agents", sa.column("agent_id", sa.Text), sa.column("camera_count", sa.Integer))


class Identity(NamedTuple):
    """controller.identity's rule as it stood at this revision, copied so that the migration keeps doing what it
    did when later code changes (stored serials and MACs are already normalised). A NamedTuple, not a dataclass:
    alembic loads revisions outside sys.modules, where dataclass() cannot resolve the module's annotations."""

    serial: str
    macs: tuple[str, ...]

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple([f"serial:{self.serial}"] if self.serial else []) + tuple(f"mac:{m}" for m in self.macs)

    def same_device(self, other: Identity) -> bool:
        # MACs decide when both sides have some (cheap firmware gives many devices one serial), else equal serials.
        if self.macs and other.macs:
            return not set(self.macs).isdisjoint(other.macs)
        return bool(self.serial) and self.serial == other.serial


def upgrade() -> None:
    conn = op.get_bind()
    cams = {
        r.camera_id: (r.agent_id, Identity(r.serial, tuple(json.loads(r.macs))))
        for r in conn.execute(
            sa.select(_cameras.c.camera_id, _cameras.c.agent_id, _cameras.c.serial, _cameras.c.macs).where(
                sa.or_(_cameras.c.serial != "", _cameras.c.macs != "[]")
            )
        )
    }
    # Only cameras with a serial or MAC that cameras of another agent have too can be another agent's device.
    agents_of: dict[str, set[str]] = {}
    for agent, ident in cams.values():
        for k in ident.keys:
            agents_of.setdefault(k, set()).add(agent)
    shared = sorted(cid for cid, (_, i) in cams.items() if any(len(agents_of[k]) > 1 for k in i.keys))
    if not shared:
        return
    first: dict[str, float] = {}
    for i in range(0, len(shared), 400):  # SQLite binds only so many values per statement
        q = (
            sa.select(_history.c.camera_id, sa.func.min(_history.c.at))
            .where(_history.c.camera_id.in_(shared[i : i + 400]))
            .group_by(_history.c.camera_id)
        )
        first |= {str(r[0]): float(r[1]) for r in conn.execute(q)}
    retired: dict[str, str] = {}  # camera retired -> the camera kept
    # The cameras kept so far, oldest first, by what can make another camera the same device (same_device: a
    # MAC when both have some, else the serial), so a serial many devices share is not compared pairwise.
    by_mac: dict[str, list[str]] = {}
    by_serial: dict[str, list[str]] = {}
    by_serial_no_mac: dict[str, list[str]] = {}
    order: dict[str, int] = {}
    for cid in sorted(shared, key=lambda c: (first.get(c, float("inf")), c)):
        agent, ident = cams[cid]
        seen = [x for m in ident.macs for x in by_mac.get(m, [])] + by_serial_no_mac.get(ident.serial, [])
        if not ident.macs:
            seen = by_serial.get(ident.serial, [])
        older = min((k for k in seen if cams[k][0] != agent and cams[k][1].same_device(ident)),
                    key=order.__getitem__, default=None)  # fmt: skip
        if older is not None:
            retired[cid] = older
            continue
        order[cid] = len(order)
        for m in ident.macs:
            by_mac.setdefault(m, []).append(cid)
        if ident.serial:
            by_serial.setdefault(ident.serial, []).append(cid)
            if not ident.macs:
                by_serial_no_mac.setdefault(ident.serial, []).append(cid)
    now = time.time()
    for cid, older in sorted(retired.items()):
        agent, owner = cams[cid][0], cams[older][0]
        conn.execute(
            sa.update(_cameras).where(_cameras.c.camera_id == cid)
            .values(serial="", macs="[]", identified_by="address", agent_ref="", vanished=1, updated_at=now)
        )  # fmt: skip
        conn.execute(sa.delete(_macs).where(_macs.c.camera_id == cid))
        conn.execute(
            sa.insert(_history).values(
                camera_id=cid, at=now, change=json.dumps({"duplicate_of": [None, older]})
            )
        )
        msg = (f"camera {cid} of agent {agent} was the device of camera {older} of agent {owner}, stored twice; "
               f"it is retired (revision 0012) and agent {agent}'s reports of the device are refused")  # fmt: skip
        details = {"agent_id": agent, "owner": owner, "message": "duplicate camera (revision 0012)"}
        conn.execute(
            sa.insert(_alerts).values(at=now, kind="foreign_report", camera_id=older, matched_camera_id=cid,
                                      message=msg, details=json.dumps(details), acknowledged_by="", acknowledged_at=0.0)
        )  # fmt: skip
    for agent in sorted({cams[cid][0] for cid in retired}):
        count = (
            sa.select(sa.func.count())
            .select_from(_cameras)
            .where(_cameras.c.agent_id == agent, _cameras.c.vanished == 0)
            .scalar_subquery()
        )
        conn.execute(sa.update(_agents).where(_agents.c.agent_id == agent).values(camera_count=count))


def downgrade() -> None:
    pass
