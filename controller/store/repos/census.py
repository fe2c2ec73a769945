"""Census devices (each agent's latest credential-free census) and recorder channels (who is behind each recorder)."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, delete, func, or_, select, tuple_

from controller.store import schema
from controller.store.repos._base import Repo

R = schema.recorder_channels
D = schema.census_devices
A = schema.agents
C = schema.cameras
M = schema.camera_macs


@dataclass
class CameraKey:
    """What the fleet answer needs of an inventoried camera: no record, so 10,000 cameras read in one query."""

    camera_id: str
    site: str
    host: str
    origin: str
    confidence: float
    serial: str
    macs: list[str]
    device_class: str


_KEY_COLUMNS = [
    C.c[k] for k in ("camera_id", "site", "host", "origin", "confidence", "serial", "macs", "device_class")
]
# What the fleet answer reads of each table (controller.fleet_answer.answer and census_api.fleet_answer): a write
# that changes none of these, for a row that stays, leaves the answer as it was and does not bump the fleet
# revision. Cameras: the key columns and whether the camera is present (an update never changes its id).
CAMERA_ANSWER = frozenset(c.name for c in _KEY_COLUMNS) | {"vanished"}
_CENSUS_ANSWER = ("agent_id", "device_key", "site", "host", "macs", "serial", "device_class", "activation",
                  "status", "origin", "confidence", "camera_id")  # fmt: skip
_CHANNEL_ANSWER = ("recorder_id", "channel", "site", "recorder_host", "address", "online", "model", "serial",
                   "macs", "origin", "confidence", "camera_id")  # fmt: skip
F = schema.fleet_revision


@dataclass(frozen=True)
class SightingKeys:
    """What census devices and recorder channels can match an inventoried camera by (fleet_answer's keys)."""

    serials: frozenset[str] = frozenset()
    macs: frozenset[str] = frozenset()
    addresses: frozenset[tuple[str, str]] = frozenset()  # (site, host)
    camera_ids: frozenset[str] = frozenset()


@dataclass
class ChannelRow:
    recorder_id: str
    channel: int
    agent_id: str
    site: str
    recorder_host: str
    address: str
    protocol: str
    online: bool
    status_detail: str
    model: str
    serial: str
    firmware: str
    macs: list[str]
    origin: str
    covered: bool
    confidence: float
    camera_id: str
    fingerprint: str
    record: bytes  # camfleet.v1.RecorderChannel
    updated_at: float = 0.0


@dataclass
class CensusRow:
    agent_id: str
    device_key: str  # mac:..., serial:... or host:... (what identifies the device within the agent's census)
    census_id: str
    site: str
    host: str
    port: int
    macs: list[str]
    serial: str
    model: str
    firmware: str
    device_class: str
    channels: int
    activation: str  # unknown | activated | unactivated
    status: str  # seen | identified | credentials known | inventoried
    sources: list[str]
    origin: str
    covered: bool
    confidence: float
    camera_id: str
    record: bytes  # camfleet.v1.CensusDevice
    seen_at: float = 0.0
    written_at: float = 0.0  # set by the store


_JSON = ("macs", "sources")
_BOOL = ("online", "covered")


def _db(row: Any) -> dict[str, Any]:
    d = asdict(row)
    for k in _JSON:
        if k in d:
            d[k] = json.dumps(d[k])
    for k in _BOOL:
        if k in d:
            d[k] = int(d[k])
    return d


def _py(d: dict[str, Any]) -> dict[str, Any]:
    for k in _JSON:
        if k in d:
            d[k] = json.loads(d[k] or "[]")
    for k in _BOOL:
        if k in d:
            d[k] = bool(d[k])
    d["record"] = bytes(d["record"])
    return d


class RecorderRepo(Repo):
    async def replace(
        self,
        agent_id: str,
        recorders: Mapping[str, Sequence[ChannelRow]],
        *,
        full: bool,
        removed: Sequence[str],
    ) -> int:
        """Each listed recorder's channels become exactly `recorders[id]`; removed recorders (and, for a full
        report, this agent's recorders not listed) lose theirs."""
        gone = [*removed, *recorders]
        # What the answer counted of the channels about to go (a full report: all of this agent's), to compare
        # with what replaces them. The agent's row lock (cameras.ingest) keeps its reports from interleaving.
        before: set[tuple[Any, ...]] = set()
        cols = [R.c[k] for k in _CHANNEL_ANSWER]
        if full:
            before = {
                tuple(r)
                for r in (await self.conn.execute(select(*cols).where(R.c.agent_id == agent_id))).all()
            }
        else:
            for part in self.d.chunks(gone):
                q = select(*cols).where(R.c.agent_id == agent_id, self.d.member_of(R.c.recorder_id, part))
                before |= {tuple(r) for r in (await self.conn.execute(q)).all()}
        for part in self.d.chunks(gone):
            await self.run(delete(R).where(R.c.agent_id == agent_id, self.d.member_of(R.c.recorder_id, part)))
        if full:
            listed = set(recorders)
            old = {r[0] for r in before}
            for part in self.d.chunks(sorted(old - listed)):
                await self.run(
                    delete(R).where(R.c.agent_id == agent_id, self.d.member_of(R.c.recorder_id, part))
                )
        now = time.time()
        values = [{**_db(ch), "updated_at": now} for rows in recorders.values() for ch in rows]
        if values:
            await self.conn.execute(self.d.insert(R), values)
        if before != {tuple(v[k] for k in _CHANNEL_ANSWER) for v in values}:
            self.marks.fleet = True
        return len(values)

    async def all(self, *, agent_id: str | None = None) -> list[ChannelRow]:
        q = select(R).order_by(R.c.recorder_id, R.c.channel)
        if agent_id is not None:
            q = q.where(R.c.agent_id == agent_id)
        return [ChannelRow(**_py(d)) for d in await self.rows(q)]

    async def touching(self, camera_ids: Sequence[str], serials: Sequence[str] = ()) -> list[ChannelRow]:
        """Channels fed by these cameras (matched by the agent, or by serial across agents), and every channel
        of those that are recorders: what recorder impact is computed from."""
        out: dict[tuple[str, int], ChannelRow] = {}

        async def collect(stmt: Select[Any]) -> None:
            for d in await self.rows(stmt):
                row = ChannelRow(**_py(d))
                out[(row.recorder_id, row.channel)] = row

        for part in self.d.chunks(sorted(set(camera_ids))):
            ids = self.d.member_of(R.c.camera_id, part) | self.d.member_of(R.c.recorder_id, part)
            await collect(select(R).where(ids))
        for part in self.d.chunks(sorted({s for s in serials if s})):
            await collect(select(R).where(self.d.member_of(R.c.serial, part)))
        return [out[k] for k in sorted(out)]


class CensusRepo(Repo):
    async def ingest(
        self, rows: Sequence[CensusRow], *, agent_id: str, census_id: str, last_part: bool
    ) -> int:
        """Upsert one part of a census run; the run's last part retires what that agent's earlier runs found and
        this one did not. A redelivered part of an older run never overwrites a newer sighting."""
        if rows:
            values = [_db(r) for r in rows]
            if await self._changes_answer(values):
                self.marks.fleet = True
            ins = self.d.insert(D)
            keep = [f.name for f in fields(CensusRow) if f.name not in ("agent_id", "device_key")]
            stmt = ins.on_conflict_do_update(
                index_elements=[D.c.agent_id, D.c.device_key],
                set_={c: ins.excluded[c] for c in keep},
                where=ins.excluded.seen_at >= D.c.seen_at,
            )
            now = time.time()
            await self.conn.execute(stmt, [{**v, "written_at": now} for v in values])
        if last_part:
            n = await self.run(delete(D).where(and_(D.c.agent_id == agent_id, D.c.census_id != census_id)))
            if n:
                self.marks.fleet = True
        return len(rows)

    async def _changes_answer(self, values: Sequence[dict[str, Any]]) -> bool:
        """Whether upserting these census rows changes what the fleet answer reads: a new device, or one whose
        counted columns differ (and that is not older than the stored sighting, which the upsert keeps). The
        stored rows are locked on PostgreSQL, so a replica writing the same devices waits and compares with
        what it wrote."""
        new = {(v["agent_id"], v["device_key"]): v for v in values}
        stored: dict[tuple[str, str], Any] = {}
        cols = [D.c[k] for k in _CENSUS_ANSWER]
        for agent in sorted({a for a, _ in new}):
            keys = sorted(k for a, k in new if a == agent)
            for part in self.d.chunks(keys):
                q = select(*cols, D.c.seen_at).where(
                    D.c.agent_id == agent, self.d.member_of(D.c.device_key, part)
                )
                for r in (await self.conn.execute(self.d.for_update(q))).all():
                    stored[(r[0], r[1])] = r
        for key, v in new.items():
            old = stored.get(key)
            if old is None:
                return True
            if v["seen_at"] >= old[-1] and tuple(old[:-1]) != tuple(v[k] for k in _CENSUS_ANSWER):
                return True
        return False

    async def all(self, *, agent_id: str | None = None) -> list[CensusRow]:
        q = select(D).order_by(D.c.agent_id, D.c.host)
        if agent_id is not None:
            q = q.where(D.c.agent_id == agent_id)
        return [CensusRow(**_py(d)) for d in await self.rows(q)]

    async def camera_keys(self) -> list[CameraKey]:
        return await self._keys(select(*_KEY_COLUMNS).where(C.c.vanished == 0).order_by(C.c.camera_id))

    async def _keys(self, q: Select[Any]) -> list[CameraKey]:
        return [CameraKey(**{**d, "macs": json.loads(d["macs"] or "[]")}) for d in await self.rows(q)]

    async def overlapping_cameras(
        self, keys: SightingKeys
    ) -> tuple[list[CameraKey], dict[tuple[str, bool], int]]:
        """The fleet answer without reading every camera: the present cameras that share a key with a census
        device or recorder channel (`keys`) or with another present camera (a serial, MAC or address twice), and
        how many of the others there are by (origin, is a recorder): each of those is a group of its own in the
        answer, counted, not listed (fleet_answer.answer's `alone`)."""
        present = C.c.vanished == 0
        # Each answered from an index (revision 0011); the MACs of vanished cameras count too (a superset: a
        # present camera sharing a MAC only with a vanished one is read, and stays a group of its own).
        dup_serial = (
            select(C.c.serial).where(C.c.serial > "").group_by(C.c.serial)
            .having(func.sum(case((present, 1), else_=0)) > 1)
        )  # fmt: skip
        dup_mac = select(M.c.mac).group_by(M.c.mac).having(func.count() > 1)
        dup_addr = (
            select(C.c.site, C.c.host).where(present).group_by(C.c.site, C.c.host).having(func.count() > 1)
        )
        wheres: list[ColumnElement[bool]] = [
            or_(C.c.serial.in_(dup_serial), C.c.camera_id.in_(select(M.c.camera_id).where(M.c.mac.in_(dup_mac))),
                tuple_(C.c.site, C.c.host).in_(dup_addr)),
        ]  # fmt: skip
        # The census's and the channels' keys, in chunks on SQLite (an address pair matches a superset there:
        # the answer compares keys exactly, so a camera too many only costs its row).
        for column, values in ((C.c.serial, keys.serials), (C.c.camera_id, keys.camera_ids)):
            wheres += [self.d.member_of(column, part) for part in self.d.chunks(sorted(values))]
        wheres += [C.c.camera_id.in_(select(M.c.camera_id).where(self.d.member_of(M.c.mac, part)))
                   for part in self.d.chunks(sorted(keys.macs))]  # fmt: skip
        wheres += [
            self.d.pairs_in(C.c.site, C.c.host, part) for part in self.d.chunks(sorted(keys.addresses))
        ]
        found: dict[str, CameraKey] = {}
        for w in wheres:
            for k in await self._keys(select(*_KEY_COLUMNS).where(present, w)):
                found[k.camera_id] = k
        q = (
            select(C.c.origin, C.c.device_class, func.count())
            .where(present)
            .group_by(C.c.origin, C.c.device_class)
        )
        alone: dict[tuple[str, bool], int] = {}
        for origin, device_class, n in (await self.conn.execute(q)).all():
            key = (str(origin), device_class == "recorder")
            alone[key] = alone.get(key, 0) + int(n)
        for k in found.values():
            alone[(k.origin, k.device_class == "recorder")] -= 1
        return sorted(found.values(), key=lambda k: k.camera_id), alone

    async def fleet_version(self) -> int:
        """The fleet revision: bumped in the same transaction as every write that changes what the fleet answer
        reads (db.Database.tx), so an answer computed from reads made after it saw this value is current
        until it changes."""
        return int((await self.conn.execute(select(F.c.rev).where(F.c.id == 1))).scalar_one())
