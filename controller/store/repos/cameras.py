"""Cameras: inventory ingest (idempotent, ordered per agent), queries and counts, history and lifecycle."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence, Set
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    union,
    update,
)

from controller.identity import Identity, Known, new_camera_id, resolve
from controller.store import schema
from controller.store.base import BREAKDOWN_COLUMNS, CameraFilter, CameraRow, like_pattern
from controller.store.dialect import SQLITE_CHUNK
from controller.store.repos._base import Repo
from controller.store.repos.census import CAMERA_ANSWER

C = schema.cameras
A = schema.agents
H = schema.camera_history
M = schema.camera_macs
ORDERABLE = frozenset({"camera_id", "site", "origin", "manufacturer", "risk_score", "risk_level", "host"})
COUNTABLE = frozenset({"origin", "site", "risk_level", "lifecycle", "manufacturer", "agent_id", "model",
                       "covered", "cloud_reachable", "oem_rebrand"})  # fmt: skip
# Fields whose change is worth a history entry (the record blob changes on every observation).
TRACKED = (
    "manufacturer",
    "model",
    "firmware",
    "origin",
    "risk_level",
    "cloud_reachable",
    "host",
    "reachable",
)
BOOLS = ("covered", "oem_rebrand", "cloud_reachable", "reachable")
# The columns of the covering index cameras_breakdown after vanished (migration 0007_breakdown_index).
BREAKDOWN_ORDER = ("origin", "manufacturer", "site", "risk_level", "lifecycle", "oem_rebrand", "covered",
                   "cloud_reachable")  # fmt: skip


def camera(d: dict[str, Any]) -> CameraRow:
    d.pop("vanished", None)
    for k in BOOLS:
        d[k] = bool(d[k])
    d["tags"] = json.loads(d["tags"])
    d["macs"] = json.loads(d["macs"])
    d["record"] = bytes(d["record"])
    return CameraRow(**d)


# What ingest reads of a candidate camera (all but the record), and what it may write back (all but the id and
# what belongs to the controller: lifecycle, tags).
_STORED = [c for c in C.c if c.name != "record"]
_UPDATED = [c.name for c in C.c if c.name not in ("camera_id", "lifecycle", "tags")]


class _Stored:
    """A candidate camera read by ingest: its stored columns, and what the matcher needs of it."""

    __slots__ = ("known", "row")

    def __init__(self, row: dict[str, Any]) -> None:
        self.row = row
        ident = Identity(row["serial"], tuple(json.loads(row["macs"])))
        self.known = Known(
            row["camera_id"], row["agent_ref"], ident, bool(row["vanished"]), row["updated_at"]
        )


@dataclass
class Ingested:
    """What an inventory report did: the camera id of each agent reference in it, and address changes."""

    stale: bool = False  # dropped: not newer than the last report applied from this agent
    written: int = 0
    ids: dict[str, str] = field(default_factory=dict)  # agent reference -> camera id
    moved: dict[str, tuple[str, str]] = field(default_factory=dict)  # camera id -> (old, new reference)
    # cameras whose reference another device took: camera id -> (that reference, the camera now there)
    displaced: dict[str, tuple[str, str]] = field(default_factory=dict)
    # records refused (not stored) because the device is another agent's camera, which became so after the
    # hub's check (two agents reported it first at once): agent reference -> (that camera, its agent)
    foreign: dict[str, tuple[str, str]] = field(default_factory=dict)


class CameraRepo(Repo):
    def where(self, flt: CameraFilter) -> list[ColumnElement[bool]]:
        out: list[ColumnElement[bool]] = [C.c.vanished == 0]
        for col in ("origin", "manufacturer", "site", "agent_id", "risk_level", "lifecycle"):
            value = getattr(flt, col)
            if value:
                out.append(C.c[col] == value)
        for col in ("covered", "cloud_reachable"):
            value = getattr(flt, col)
            if value is not None:
                out.append(C.c[col] == int(value))
        if flt.search:
            # Case-insensitive on both engines (SQLite's LIKE already is for ASCII; PostgreSQL's is not), and
            # literal: `%` and `_` in the search text are escaped, so q=% is not "every camera".
            p = like_pattern(flt.search)
            cols = (C.c.camera_id, C.c.host, C.c.model, C.c.manufacturer, C.c.firmware)
            out.append(or_(*(c.ilike(p, escape="\\") for c in cols)))
        if flt.camera_ids is not None:
            out.append(self.d.member_of(C.c.camera_id, list(flt.camera_ids)))
        return out

    async def ingest(
        self, agent_id: str, rows: Sequence[CameraRow], *, full: bool, removed: Sequence[str], seq: int
    ) -> Ingested:
        """Store an inventory report. Each row names its camera as the agent does (camera_id = the agent's
        reference); the camera it is comes from controller.identity.resolve over this agent's cameras. Reports
        older than the last one applied from this agent are dropped, so a redelivered or reordered message
        never rolls a camera back. `removed` names references the agent no longer reads.

        The hot path of ingest: a handful of statements per report whatever its size (the agent's sequence
        and lock in one, the candidate cameras in one SELECT per chunk, history, updates and inserts each as
        one executemany); cameras that moved cost two statements more, new cameras two (first_sight)."""
        now = time.time()
        if await self._stale(agent_id, seq):
            return Ingested(stale=True)
        refs = [r.camera_id for r in rows]
        idents = [Identity.of(r.serial, r.macs) for r in rows]
        known = await self._candidates(agent_id, refs, idents)
        res = resolve(list(zip(refs, idents, strict=True)), [k.known for k in known.values()])
        foreign = await self._first_sight(agent_id, refs, idents, res.matches, known)
        keep: set[str] = set()  # cameras of this agent a refused record was about: left as they are
        if foreign:
            keep = {m for r, m in zip(refs, res.matches, strict=True) if r in foreign and m is not None}
            keep |= {cid for cid, s in known.items() if s.known.agent_ref in foreign}
            kept = [i for i, r in enumerate(refs) if r not in foreign]
            rows, refs, idents = [rows[i] for i in kept], [refs[i] for i in kept], [idents[i] for i in kept]
            res.matches = [res.matches[i] for i in kept]
            res.moved = {cid: m for cid, m in res.moved.items() if m[1] not in foreign}
            res.displaced = [k for k in res.displaced if k.agent_ref not in foreign]
        fresh = await self._new_ids(agent_id, refs, idents, res.matches)
        ids = [m if m is not None else fresh[refs[i]] for i, m in enumerate(res.matches)]
        out = Ingested(
            written=len(rows), ids=dict(zip(refs, ids, strict=True)), moved=res.moved, foreign=foreign
        )
        out.displaced = {k.camera_id: (k.agent_ref, out.ids[k.agent_ref]) for k in res.displaced}
        # A reference changes hands only once nobody holds it (cameras_agent_ref is unique per agent).
        for part in self.d.chunks([*res.moved, *out.displaced]):
            await self.conn.execute(
                update(C).where(self.d.member_of(C.c.camera_id, part)).values(agent_ref="", updated_at=now)
            )
        if out.displaced:
            self.marks.fleet = True
        for part in self.d.chunks(list(out.displaced)):
            await self.conn.execute(
                update(C).where(self.d.member_of(C.c.camera_id, part)).values(vanished=1, updated_at=now)
            )
        history = [{"camera_id": cid, "at": now, "change": json.dumps({"displaced": [ref, by]})}
                   for cid, (ref, by) in out.displaced.items()]  # fmt: skip
        olds: dict[str, tuple[dict[str, Any], Identity]] = {
            k: (v.row, v.known.identity) for k, v in known.items()
        }
        latest: dict[str, dict[str, Any]] = {}
        for row, cid, ident in zip(rows, ids, idents, strict=True):
            # in report order: a camera listed twice compares its second copy with the first
            values = self._values(row, cid, now)
            if cid in olds:
                old, before = olds[cid]
                # Lifecycle and tags belong to the controller (campaigns, operators), not to the agent; a record
                # without identity (the camera did not answer) keeps the identity known before.
                values["lifecycle"], values["tags"] = old["lifecycle"], old["tags"]
                ident = before.merged(ident)
                change = {k: [old[k], values[k]] for k in TRACKED if old[k] != values[k]}
                if cid in res.moved and old["agent_ref"] != row.camera_id:
                    change["address"] = [res.moved[cid][0], row.camera_id]
                if change:
                    history.append({"camera_id": cid, "at": now, "change": json.dumps(change, default=str)})
                macs = old["macs"] if ident.macs == before.macs else json.dumps(list(ident.macs))
            else:
                values["tags"] = json.dumps(row.tags)
                history.append({"camera_id": cid, "at": now,
                                "change": json.dumps({"first_seen": [None, row.host]})})  # fmt: skip
                macs = json.dumps(list(ident.macs))
            values["serial"], values["macs"], values["identified_by"] = ident.serial, macs, ident.how
            olds[cid] = (values, ident)
            latest[cid] = values
        if history:
            await self.conn.execute(insert(H), history)
        await self._write(latest, known)
        await self._vanish(agent_id, latest.keys() | keep, full=full, removed=removed, now=now)
        count = select(func.count()).where(C.c.agent_id == agent_id, C.c.vanished == 0).scalar_subquery()
        await self.conn.execute(
            update(A)
            .where(A.c.agent_id == agent_id)
            .values(inventory_seq=seq, last_seen=now, camera_count=count)
        )
        return out

    async def _stale(self, agent_id: str, seq: int) -> bool:
        """The agent's row, created if new and locked (replicas and redeliveries of one agent's reports apply
        in order), in one statement; True when `seq` is not newer than the last report applied."""
        ins = self.d.insert(A).values(agent_id=agent_id)
        got = await self.conn.execute(
            ins.on_conflict_do_update(index_elements=[A.c.agent_id], set_={"agent_id": ins.excluded.agent_id})
            .returning(A.c.inventory_seq)
        )  # fmt: skip
        return bool(seq) and int(got.scalar_one()) >= seq

    async def _candidates(
        self, agent_id: str, refs: Sequence[str], idents: Sequence[Identity]
    ) -> dict[str, _Stored]:
        """The agent's cameras a report can be about, with every stored column but the record: those at its
        references, and, for a record that is not the camera at its reference, those with its serial or MACs
        (vanished ones too: a camera that comes back at a new address is still itself). A steady report costs
        one SELECT; one with cameras that moved or appeared, two."""
        out: dict[str, _Stored] = {}
        for part in self.d.chunks(sorted(set(refs))):
            q = select(*_STORED).where(C.c.agent_id == agent_id, C.c.agent_ref != "",
                                       self.d.member_of(C.c.agent_ref, part))  # fmt: skip
            out |= {d["camera_id"]: _Stored(d) for d in await self.rows(self.d.for_update(q))}
        at = {s.known.agent_ref: s.known.identity for s in out.values()}
        seek = [
            i for r, i in zip(refs, idents, strict=True) if i.known and not (r in at and i.same_device(at[r]))
        ]
        for part in self.d.chunks(seek, SQLITE_CHUNK // 2):  # a serial and a MAC or two each
            q = select(*_STORED).where(C.c.camera_id.in_(self._with_identity(part)))
            if self.d.pg:
                # Lock only this agent's rows: two agents' reports about one device would otherwise each hold
                # their own rows and wait for the other's (a deadlock). SQLite locks nothing here.
                q = q.where(C.c.agent_id == agent_id)
            for d in await self.rows(self.d.for_update(q)):
                if d["agent_id"] == agent_id:  # an agent speaks only for its own cameras
                    out[d["camera_id"]] = _Stored(d)
        return out

    async def _first_sight(
        self,
        agent_id: str,
        refs: Sequence[str],
        idents: Sequence[Identity],
        matches: Sequence[str | None],
        known: dict[str, _Stored],
    ) -> dict[str, tuple[str, str]]:
        """The report's records that would make this agent the owner of a device another agent owns: agent
        reference -> (that camera, its agent). The hub refuses a report naming another agent's camera before
        this transaction; this closes the window after its check, when two agents report one device first at
        once (overlapping address ranges, a camera moved between sites): each report holds its new identities'
        locks (Dialect.lock_identities; SQLite: the one writer) while it looks, so the second sees the first's
        camera. Only new cameras, and cameras that say more about themselves than before, are looked up: a
        steady report costs nothing here."""
        wanted: dict[str, Identity] = {}
        for ref, ident, m in zip(refs, idents, matches, strict=True):
            if not ident.known:
                continue
            before = known[m].known.identity if m is not None else Identity()
            after = before.merged(ident)
            if set(after.keys) - set(before.keys):
                wanted[ref] = after
        if not wanted:
            return {}
        await self.d.lock_identities(self.conn, sorted({k for i in wanted.values() for k in i.keys}))
        theirs: dict[str, tuple[str, Identity]] = {}
        for part in self.d.chunks(sorted(set(wanted.values()), key=lambda i: i.keys), SQLITE_CHUNK // 2):
            q = select(C.c.camera_id, C.c.agent_id, C.c.serial, C.c.macs).where(
                C.c.camera_id.in_(self._with_identity(part)), C.c.agent_id != agent_id
            )
            for r in await self.rows(q):
                theirs[r["camera_id"]] = (r["agent_id"], Identity(r["serial"], tuple(json.loads(r["macs"]))))
        out: dict[str, tuple[str, str]] = {}
        for ref, ident in wanted.items():
            # Several (cameras of two agents that are one device, stored before this check existed): the first
            # by id, so the answer does not change from one report to the next.
            found = sorted(cid for cid, (_, i) in theirs.items() if ident.same_device(i))
            if found:
                out[ref] = (found[0], theirs[found[0]][0])
        return out

    def _with_identity(self, idents: Sequence[Identity]) -> CompoundSelect[str]:
        """Ids of the cameras (of any agent) with one of these serials or MACs: each key through its own index,
        the agent filtered by the caller (beside an agent filter and an OR, SQLite walks all of that agent's
        cameras instead: quadratic in the size of a site)."""
        return union(
            select(C.c.camera_id).where(
                self.d.member_of(C.c.serial, sorted({i.serial for i in idents if i.serial}))
            ),
            select(M.c.camera_id).where(
                self.d.member_of(M.c.mac, sorted({m for i in idents for m in i.macs}))
            ),
        )

    async def _new_ids(
        self, agent_id: str, refs: Sequence[str], idents: Sequence[Identity], matches: Sequence[str | None]
    ) -> dict[str, str]:
        """Ids for the report's new cameras, by reference (a reference listed twice is one camera: its last
        copy decides). An identified camera gets an opaque id; one known only by its address gets that address
        (the agent's reference) if no camera has that id yet, else agent/reference."""
        last = {ref: i for i, ref in enumerate(refs)}
        new = {ref: idents[i] for ref, i in last.items() if matches[i] is None}
        fresh = {ref: new_camera_id() for ref, ident in new.items() if ident.known}
        wanted = sorted(ref for ref, ident in new.items() if not ident.known)
        if not wanted:
            return fresh
        options = sorted({x for ref in wanted for x in (ref, f"{agent_id}/{ref}")})
        taken: set[str] = set()
        for part in self.d.chunks(options):
            q = select(C.c.camera_id).where(self.d.member_of(C.c.camera_id, part))
            taken |= {str(r[0]) for r in (await self.conn.execute(q)).all()}
        for ref in wanted:
            fresh[ref] = (
                next((x for x in (ref, f"{agent_id}/{ref}") if x not in taken), None) or new_camera_id()
            )
            taken.add(fresh[ref])
        return fresh

    @staticmethod
    def _values(row: CameraRow, camera_id: str, now: float) -> dict[str, Any]:
        # A shallow copy of the row's fields (dataclasses.asdict deep-copies every field: it was a third of the
        # ingest's CPU; a dict comprehension over getattr, a tenth).
        values = dict(vars(row))
        for k in BOOLS:
            values[k] = int(values[k])
        values["camera_id"], values["agent_ref"] = camera_id, row.camera_id
        values["device_class"] = row.device_class[:32]
        values["updated_at"] = now
        values["vanished"] = 0
        return values

    async def _write(self, latest: dict[str, dict[str, Any]], known: dict[str, _Stored]) -> None:
        """Known cameras updated, new ones inserted (a plain INSERT: an id that exists is an error, never an
        overwrite), and the MAC index of those whose MACs changed. An update sets only the columns that changed
        (grouped into one executemany per set of columns): SQLite rewrites the entries of every index whose
        column is assigned, even to its own value, and a steady camera changes only its record and times."""
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for k, v in latest.items():
            if k in known:
                old = known[k].row
                cols = tuple(c for c in _UPDATED if c == "record" or old[c] != v[c])
                groups.setdefault(cols, []).append(v)
            else:
                self.marks.fleet = True
        if any(CAMERA_ANSWER.intersection(cols) for cols in groups):
            self.marks.fleet = True
        for cols, vs in groups.items():
            await self.conn.execute(
                update(C)
                .where(C.c.camera_id == bindparam("k"))
                .values({c: bindparam(f"v_{c}") for c in cols}),
                [{"k": v["camera_id"], **{f"v_{c}": v[c] for c in cols}} for v in vs],
            )
        new = [v for k, v in latest.items() if k not in known]
        if new:
            await self.conn.execute(insert(C), new)
        remac = [k for k, v in latest.items() if k not in known or known[k].row["macs"] != v["macs"]]
        for part in self.d.chunks([k for k in remac if k in known]):  # a new camera has none yet
            await self.conn.execute(delete(M).where(self.d.member_of(M.c.camera_id, part)))
        pairs = [{"camera_id": k, "mac": m} for k in remac for m in json.loads(latest[k]["macs"])]
        if pairs:
            await self.conn.execute(insert(M), pairs)

    async def _vanish(
        self,
        agent_id: str,
        present: Set[str],
        *,
        full: bool,
        removed: Sequence[str],
        now: float,
    ) -> None:
        """A full report's absentees, and the cameras at references the agent removed, are marked vanished
        (never one of `present`: the report's cameras, and those a refused record was about)."""
        gone: list[str] = []
        if full:
            active = select(C.c.camera_id).where(C.c.agent_id == agent_id, C.c.vanished == 0)
            gone += [r["camera_id"] for r in await self.rows(active) if r["camera_id"] not in present]
        counted = bool(gone)  # the fleet answer counts present cameras only
        for part in self.d.chunks(sorted(set(removed))):
            q = select(C.c.camera_id, C.c.vanished)
            q = q.where(C.c.agent_id == agent_id, self.d.member_of(C.c.agent_ref, part))
            got = [r for r in await self.rows(q) if r["camera_id"] not in present]
            gone += [r["camera_id"] for r in got]
            counted = counted or any(not r["vanished"] for r in got)
        if counted:
            self.marks.fleet = True
        for part in self.d.chunks(sorted(set(gone))):
            await self.conn.execute(
                update(C).where(C.c.agent_id == agent_id, self.d.member_of(C.c.camera_id, part))
                .values(vanished=1, updated_at=now)
            )  # fmt: skip

    async def get(self, camera_id: str) -> CameraRow | None:
        d = await self.one(select(C).where(C.c.camera_id == camera_id))
        return camera(d) if d is not None else None

    async def get_many(self, camera_ids: Sequence[str]) -> dict[str, CameraRow]:
        out: dict[str, CameraRow] = {}
        for part in self.d.chunks(list(dict.fromkeys(camera_ids))):
            out |= {
                d["camera_id"]: camera(d)
                for d in await self.rows(select(C).where(self.d.member_of(C.c.camera_id, part)))
            }
        return out

    async def query(
        self, flt: CameraFilter, *, limit: int = 50, offset: int = 0, order: str = "camera_id"
    ) -> tuple[list[CameraRow], int]:
        """A page and the total (in a snapshot read, so they agree while ingest writes)."""
        desc = order.startswith("-")
        col = order.lstrip("-")
        if col not in ORDERABLE:
            raise ValueError(f"cannot sort by {col!r}; use one of {sorted(ORDERABLE)}")
        where = self.where(flt)
        total = (await self.conn.execute(select(func.count()).select_from(C).where(*where))).scalar_one()
        # camera_id breaks ties, and is not repeated when it is the key: SQLite does not see that
        # "camera_id, camera_id" is one column, and sorts every row up to the offset in a temporary b-tree
        # (a page deep in 10,000 cameras: 20 ms instead of 0.5).
        key = [C.c[col].desc() if desc else C.c[col].asc(), *([C.c.camera_id] if col != "camera_id" else [])]
        # The page's ids first, then only those rows: the rows skipped by the offset are read (and sorted) by
        # their key and id alone, not with their records (3-5 times faster deep in a page order).
        ids = select(C.c.camera_id).where(*where).order_by(*key).limit(limit).offset(offset)
        page = select(C).where(C.c.camera_id.in_(ids.scalar_subquery())).order_by(*key)
        return [camera(d) for d in await self.rows(page)], int(total)

    async def export(self, flt: CameraFilter, columns: Sequence[str]) -> list[Sequence[Any]]:
        """`columns` of every camera `flt` selects, in query()'s order, booleans as bool: what a CSV export
        writes. Unlike query() no record, no JSON and no CameraRow per camera (at 10,000 cameras those were
        most of the export's time)."""
        cols = [(C.c[n] != 0).label(n) if n in BOOLS else C.c[n] for n in columns]
        q = select(*cols).where(*self.where(flt)).order_by(C.c.camera_id)
        return list((await self.conn.execute(q)).all())

    async def history(self, camera_id: str, limit: int = 100) -> list[dict[str, Any]]:
        q = (
            select(H.c.at, H.c.change)
            .where(H.c.camera_id == camera_id)
            .order_by(H.c.at.desc(), H.c.id.desc())
        )
        return [{"at": r["at"], "change": json.loads(r["change"])} for r in await self.rows(q.limit(limit))]

    async def ids_for(self, agent_id: str, refs: Sequence[str]) -> dict[str, str]:
        """The agent's reference -> camera id, for the references of its cameras (vanished ones too)."""
        out: dict[str, str] = {}
        for part in self.d.chunks(sorted({r for r in refs if r})):
            q = select(C.c.agent_ref, C.c.camera_id).where(
                C.c.agent_id == agent_id, self.d.member_of(C.c.agent_ref, part)
            )
            out.update({str(r[0]): str(r[1]) for r in (await self.conn.execute(q)).all()})
        return out

    async def refs_of(self, agent_id: str, camera_ids: Sequence[str]) -> dict[str, str]:
        """Camera id -> the agent's reference, for those of the cameras that belong to `agent_id` and have one
        (what a command to that agent names them by)."""
        out: dict[str, str] = {}
        for part in self.d.chunks(sorted(set(camera_ids))):
            q = select(C.c.camera_id, C.c.agent_ref).where(
                C.c.agent_id == agent_id, C.c.agent_ref != "", self.d.member_of(C.c.camera_id, part)
            )
            out.update({str(r[0]): str(r[1]) for r in (await self.conn.execute(q)).all()})
        return out

    async def same_devices(self, agent_id: str, idents: Sequence[Identity]) -> dict[str, str]:
        """Cameras of *other* agents that are the same device as one of `idents` (controller.identity's rule):
        camera id -> the agent it belongs to. An agent reporting one of them speaks for another's camera."""
        wanted = [i for i in idents if i.known]
        found: dict[str, tuple[str, Identity]] = {}
        for part in self.d.chunks(wanted, SQLITE_CHUNK // 2):
            q = select(C.c.camera_id, C.c.agent_id, C.c.serial, C.c.macs).where(
                C.c.camera_id.in_(self._with_identity(part))
            )
            for r in await self.rows(q):
                if r["agent_id"] != agent_id:
                    found[r["camera_id"]] = (
                        r["agent_id"],
                        Identity(r["serial"], tuple(json.loads(r["macs"]))),
                    )
        return {
            cid: owner for cid, (owner, theirs) in found.items() if any(i.same_device(theirs) for i in wanted)
        }

    async def set_agent(self, camera_id: str, agent_id: str) -> bool:
        """An admin's reassignment: from now on only `agent_id` may report on the camera. Its reference was the
        old agent's name for it; the new agent's reports find it by its identity and give it theirs."""
        now = time.time()
        n = await self.run(
            update(C)
            .where(C.c.camera_id == camera_id)
            .values(agent_id=agent_id, agent_ref="", updated_at=now)
        )
        if n:
            await self.conn.execute(
                insert(H).values(
                    camera_id=camera_id, at=now, change=json.dumps({"agent_id": [None, agent_id]})
                )
            )
        return n > 0

    async def set_lifecycle(self, camera_id: str, lifecycle: str) -> None:
        await self.set_lifecycles([(camera_id, lifecycle)])

    async def set_lifecycles(self, changes: Sequence[tuple[str, str]]) -> None:
        """(camera_id, lifecycle) pairs, each with its history entry: two executemany statements."""
        if not changes:
            return
        now = time.time()
        await self.conn.execute(
            update(C).where(C.c.camera_id == bindparam("k")).values(lifecycle=bindparam("v"), updated_at=now),
            [{"k": cid, "v": lc} for cid, lc in changes],
        )
        await self.conn.execute(
            insert(H),
            [
                {"camera_id": cid, "at": now, "change": json.dumps({"lifecycle": [None, lc]})}
                for cid, lc in changes
            ],
        )

    async def counts(self, column: str, flt: CameraFilter | None = None) -> dict[str, int]:
        if column not in COUNTABLE:
            raise ValueError(f"cannot count by {column!r}")
        q = select(C.c[column], func.count()).where(*self.where(flt or CameraFilter())).group_by(C.c[column])
        return {str(r[0]): int(r[1]) for r in (await self.conn.execute(q)).all()}

    async def breakdown(
        self, columns: Sequence[str], flt: CameraFilter | None = None
    ) -> list[tuple[tuple[str, ...], int]]:
        """Counts grouped by several columns in ONE scan: the dashboard derives every total from it."""
        bad = [c for c in columns if c not in BREAKDOWN_COLUMNS]
        if bad or not columns or len(set(columns)) != len(columns):
            raise ValueError(f"cannot break down by {bad or columns}")
        # Grouped in the covering index's column order (revision 0007), whatever order the caller asked for:
        # SQLite then reads the index, not the table, and needs no temporary b-tree for a prefix of it.
        ordered = sorted(
            columns, key=lambda c: BREAKDOWN_ORDER.index(c) if c in BREAKDOWN_ORDER else len(BREAKDOWN_ORDER)
        )
        back = [ordered.index(c) for c in columns]
        cols = [C.c[c] for c in ordered]
        q = select(*cols, func.count()).where(*self.where(flt or CameraFilter())).group_by(*cols)
        n = len(columns)
        out = []
        for r in (await self.conn.execute(q)).all():
            values = [str(int(v)) if isinstance(v, bool) else str(v) for v in r[:n]]
            out.append((tuple(values[i] for i in back), int(r[n])))
        return out

    async def changed_since(self, since: float) -> list[tuple[CameraRow, bool]]:
        """Cameras written (inventoried or marked vanished) at or after `since`, with their vanished flag."""
        q = select(C).where(C.c.updated_at >= since).order_by(C.c.updated_at, C.c.camera_id)
        out = []
        for d in await self.rows(q):
            vanished = bool(d["vanished"])
            out.append((camera(d), vanished))
        return out
