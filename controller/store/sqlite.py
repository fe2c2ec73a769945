"""The SQLite (WAL) implementation of the fleet store: the embedded single-machine default."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import aiosqlite

from controller.store.audit import GENESIS, AuditEntry, ChainReport, entry_hash, verify_chain
from controller.store.base import (
    BREAKDOWN_COLUMNS,
    FINAL_STATES,
    AgentRow,
    AlertRow,
    ApprovalRow,
    AuditInput,
    BatchRow,
    CameraFilter,
    CameraRow,
    CampaignRow,
    CommandRow,
    ExecutionRow,
    MemberRow,
    RetiredRow,
    StepRow,
    UserRow,
    update_accepted,
)
from controller.store.migrations import MIGRATIONS, SQLITE_AUDIT_GUARDS, for_sqlite

CAMERA_COLUMNS = [f.name for f in fields(CameraRow)]
ORDERABLE = frozenset({"camera_id", "site", "origin", "manufacturer", "risk_score", "risk_level", "host"})
COUNTABLE = frozenset({"origin", "site", "risk_level", "lifecycle", "manufacturer", "agent_id", "model"})
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


def _camera(row: aiosqlite.Row) -> CameraRow:
    d = dict(row)
    d.pop("vanished", None)
    d["covered"] = bool(d["covered"])
    d["oem_rebrand"] = bool(d["oem_rebrand"])
    d["cloud_reachable"] = bool(d["cloud_reachable"])
    d["reachable"] = bool(d["reachable"])
    d["tags"] = json.loads(d["tags"])
    return CameraRow(**d)


def _where(flt: CameraFilter) -> tuple[str, list[Any]]:
    clauses: list[str] = ["vanished = 0"]
    args: list[Any] = []
    for col in ("origin", "manufacturer", "site", "agent_id", "risk_level", "lifecycle"):
        value = getattr(flt, col)
        if value:
            clauses.append(f"{col} = ?")
            args.append(value)
    for col in ("covered", "cloud_reachable"):
        value = getattr(flt, col)
        if value is not None:
            clauses.append(f"{col} = ?")
            args.append(int(value))
    if flt.search:
        clauses.append(
            "(camera_id LIKE ? OR host LIKE ? OR model LIKE ? OR manufacturer LIKE ? OR firmware LIKE ?)"
        )
        args += [f"%{flt.search}%"] * 5
    if flt.camera_ids is not None:
        ids = list(flt.camera_ids)
        clauses.append(f"camera_id IN ({','.join('?' * len(ids))})" if ids else "0")
        args += ids
    return " AND ".join(clauses), args


class SqliteStore:
    """One connection in WAL mode; writes are serialised by a lock so multi-statement updates are atomic."""

    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        self._db: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise RuntimeError("store is not open")
        return self._db

    async def open(self) -> None:
        self._db = await aiosqlite.connect(self.path)
        self._db.row_factory = aiosqlite.Row
        await self._db.execute("PRAGMA journal_mode=WAL")
        await self._db.execute("PRAGMA synchronous=NORMAL")
        await self._db.execute("PRAGMA foreign_keys=ON")
        await self._migrate()

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None

    async def _migrate(self) -> None:
        await self.db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        async with self.db.execute("SELECT MAX(version) FROM schema_version") as cur:
            row = await cur.fetchone()
        current = int(row[0]) if row and row[0] is not None else 0
        for version, sql in enumerate(MIGRATIONS, start=1):
            if version <= current:
                continue
            await self.db.executescript(
                f"BEGIN;\n{for_sqlite(sql)}\nINSERT INTO schema_version VALUES ({version});\nCOMMIT;"
            )
        await self.db.executescript(SQLITE_AUDIT_GUARDS)
        await self.db.commit()

    async def schema_version(self) -> int:
        async with self.db.execute("SELECT MAX(version) FROM schema_version") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    # ---- agents ------------------------------------------------------------------------------
    async def upsert_agent(self, row: AgentRow) -> bool:
        """Apply a birth/status message unless it is older than what is stored (a stale boot_seq)."""
        async with self._lock:
            async with self.db.execute(
                "SELECT boot_seq FROM agents WHERE agent_id = ?", (row.agent_id,)
            ) as cur:
                old = await cur.fetchone()
            if old is not None and int(old[0]) > row.boot_seq:
                return False
            await self.db.execute(
                """INSERT INTO agents (agent_id, site, version, boot_seq, online, last_seen, capabilities, camera_count)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (agent_id) DO UPDATE SET site=excluded.site, version=excluded.version,
                     boot_seq=excluded.boot_seq, online=excluded.online, last_seen=excluded.last_seen,
                     capabilities=excluded.capabilities, camera_count=excluded.camera_count""",
                (row.agent_id, row.site, row.version, row.boot_seq, int(row.online), row.last_seen,
                 json.dumps(row.capabilities), row.camera_count),
            )  # fmt: skip
            await self.db.commit()
            return True

    async def mark_agent_offline(self, agent_id: str, boot_seq: int, at: float) -> bool:
        """A death (Last Will) counts only for the boot it belongs to, as Sparkplug's bdSeq rule says."""
        async with self._lock:
            cur = await self.db.execute(
                "UPDATE agents SET online = 0, last_seen = ? WHERE agent_id = ? AND boot_seq <= ?",
                (at, agent_id, boot_seq),
            )
            await self.db.commit()
            return (cur.rowcount or 0) > 0

    async def touch_agent(self, agent_id: str, at: float) -> None:
        async with self._lock:
            await self.db.execute("UPDATE agents SET last_seen = ? WHERE agent_id = ?", (at, agent_id))
            await self.db.commit()

    async def list_agents(self) -> list[AgentRow]:
        async with self.db.execute("SELECT * FROM agents ORDER BY agent_id") as cur:
            rows = await cur.fetchall()
        out = []
        for r in rows:
            d = dict(r)
            d.pop("inventory_seq", None)
            d["online"] = bool(d["online"])
            d["capabilities"] = json.loads(d["capabilities"])
            out.append(AgentRow(**d))
        return out

    # ---- cameras -----------------------------------------------------------------------------
    async def ingest_cameras(
        self, agent_id: str, rows: Sequence[CameraRow], *, full: bool, removed: Sequence[str], seq: int
    ) -> int:
        """Store an inventory report. Reports older than the last one applied from this agent are dropped,
        so a redelivered or reordered message never rolls a camera back. Returns cameras written."""
        now = time.time()
        async with self._lock:
            async with self.db.execute(
                "SELECT inventory_seq FROM agents WHERE agent_id = ?", (agent_id,)
            ) as cur:
                got = await cur.fetchone()
            if got is None:
                await self.db.execute("INSERT INTO agents (agent_id) VALUES (?)", (agent_id,))
            elif seq and int(got[0]) >= seq:
                return 0
            # One SELECT per 500 cameras and two executemany calls instead of three round trips per camera:
            # each aiosqlite call is a hop to its thread, and those hops dominated ingest (bench/ingest.py).
            olds: dict[str, dict[str, Any]] = {}
            ids = list(dict.fromkeys(r.camera_id for r in rows))
            for k in range(0, len(ids), 500):
                part = ids[k : k + 500]
                async with self.db.execute(
                    f"SELECT camera_id, {', '.join(TRACKED)}, lifecycle, tags FROM cameras "
                    f"WHERE camera_id IN ({', '.join('?' * len(part))})",
                    part,
                ) as cur:
                    for r in await cur.fetchall():
                        olds[str(r["camera_id"])] = dict(r)
            history: list[tuple[str, float, str]] = []
            upserts: list[list[Any]] = []
            for row in rows:
                old = olds.get(row.camera_id)
                values = asdict(row)
                values["tags"] = json.dumps(row.tags)
                values["updated_at"] = now
                if old is not None:
                    # Lifecycle and tags belong to the controller (campaigns, operators), not to the agent.
                    values["lifecycle"], values["tags"] = old["lifecycle"], old["tags"]
                    change = {
                        k: [old[k], values[k]]
                        for k in TRACKED
                        if old[k] != (int(values[k]) if isinstance(values[k], bool) else values[k])
                    }
                    if change:
                        history.append((row.camera_id, now, json.dumps(change, default=str)))
                else:
                    history.append((row.camera_id, now, json.dumps({"first_seen": [None, row.host]})))
                params = [int(v) if isinstance(v, bool) else v for v in (values[c] for c in CAMERA_COLUMNS)]
                upserts.append(params)
                # A camera twice in one report compares its second copy with the first, as row-by-row did.
                olds[row.camera_id] = dict(zip(CAMERA_COLUMNS, params, strict=True))
            cols = ", ".join(CAMERA_COLUMNS)
            marks = ", ".join("?" * len(CAMERA_COLUMNS))
            updates = ", ".join(f"{c}=excluded.{c}" for c in CAMERA_COLUMNS if c != "camera_id")
            await self.db.executemany(
                "INSERT INTO camera_history (camera_id, at, change) VALUES (?, ?, ?)", history
            )
            await self.db.executemany(
                f"INSERT INTO cameras ({cols}) VALUES ({marks}) ON CONFLICT (camera_id) DO UPDATE SET {updates}, vanished = 0",
                upserts,
            )
            written = len(rows)
            gone = list(removed)
            if full:
                keep = {r.camera_id for r in rows}
                async with self.db.execute(
                    "SELECT camera_id FROM cameras WHERE agent_id = ? AND vanished = 0", (agent_id,)
                ) as cur:
                    gone += [r[0] for r in await cur.fetchall() if r[0] not in keep]
            for cid in gone:
                await self.db.execute(
                    "UPDATE cameras SET vanished = 1, updated_at = ? WHERE camera_id = ? AND agent_id = ?",
                    (now, cid, agent_id),
                )
            async with self.db.execute(
                "SELECT COUNT(*) FROM cameras WHERE agent_id = ? AND vanished = 0", (agent_id,)
            ) as cur:
                count_row = await cur.fetchone()
            await self.db.execute(
                "UPDATE agents SET inventory_seq = ?, camera_count = ?, last_seen = ? WHERE agent_id = ?",
                (seq, int(count_row[0]) if count_row else 0, now, agent_id),
            )
            await self.db.commit()
            return written

    async def get_camera(self, camera_id: str) -> CameraRow | None:
        async with self.db.execute("SELECT * FROM cameras WHERE camera_id = ?", (camera_id,)) as cur:
            row = await cur.fetchone()
        return _camera(row) if row is not None else None

    async def find_by_fingerprint(self, fingerprint: str) -> list[CameraRow]:
        async with self.db.execute("SELECT * FROM cameras WHERE fingerprint = ?", (fingerprint,)) as cur:
            return [_camera(r) for r in await cur.fetchall()]

    async def query_cameras(
        self, flt: CameraFilter, *, limit: int = 50, offset: int = 0, order: str = "camera_id"
    ) -> tuple[list[CameraRow], int]:
        desc = order.startswith("-")
        col = order.lstrip("-")
        if col not in ORDERABLE:
            raise ValueError(f"cannot sort by {col!r}; use one of {sorted(ORDERABLE)}")
        where, args = _where(flt)
        async with self.db.execute(f"SELECT COUNT(*) FROM cameras WHERE {where}", args) as cur:
            total_row = await cur.fetchone()
        sql = f"SELECT * FROM cameras WHERE {where} ORDER BY {col} {'DESC' if desc else 'ASC'}, camera_id LIMIT ? OFFSET ?"
        async with self.db.execute(sql, [*args, limit, offset]) as cur:
            rows = [_camera(r) for r in await cur.fetchall()]
        return rows, int(total_row[0]) if total_row else 0

    async def camera_history(self, camera_id: str, limit: int = 100) -> list[dict[str, Any]]:
        async with self.db.execute(
            "SELECT at, change FROM camera_history WHERE camera_id = ? ORDER BY at DESC, id DESC LIMIT ?",
            (camera_id, limit),
        ) as cur:
            return [{"at": r[0], "change": json.loads(r[1])} for r in await cur.fetchall()]

    async def set_lifecycle(self, camera_id: str, lifecycle: str) -> None:
        async with self._lock:
            await self.db.execute(
                "UPDATE cameras SET lifecycle = ?, updated_at = ? WHERE camera_id = ?",
                (lifecycle, time.time(), camera_id),
            )
            await self.db.execute(
                "INSERT INTO camera_history (camera_id, at, change) VALUES (?, ?, ?)",
                (camera_id, time.time(), json.dumps({"lifecycle": [None, lifecycle]})),
            )
            await self.db.commit()

    async def counts(self, column: str, flt: CameraFilter | None = None) -> dict[str, int]:
        if column not in COUNTABLE and column not in ("covered", "cloud_reachable", "oem_rebrand"):
            raise ValueError(f"cannot count by {column!r}")
        where, args = _where(flt or CameraFilter())
        async with self.db.execute(
            f"SELECT {column}, COUNT(*) FROM cameras WHERE {where} GROUP BY {column}", args
        ) as cur:
            return {str(r[0]): int(r[1]) for r in await cur.fetchall()}

    async def breakdown(
        self, columns: Sequence[str], flt: CameraFilter | None = None
    ) -> list[tuple[tuple[str, ...], int]]:
        """Counts grouped by several columns in ONE scan: the dashboard derives every total from it."""
        bad = [c for c in columns if c not in BREAKDOWN_COLUMNS]
        if bad or not columns:
            raise ValueError(f"cannot break down by {bad or columns}")
        where, args = _where(flt or CameraFilter())
        cols = ", ".join(columns)
        sql = f"SELECT {cols}, COUNT(*) FROM cameras WHERE {where} GROUP BY {cols}"
        async with self.db.execute(sql, args) as cur:
            rows = await cur.fetchall()
        n = len(columns)
        return [
            (tuple(str(int(v)) if isinstance(v, bool) else str(v) for v in r[:n]), int(r[n])) for r in rows
        ]

    # ---- commands and executions -------------------------------------------------------------
    async def create_command(self, cmd: CommandRow, camera_ids: Sequence[str]) -> None:
        async with self._lock:
            await self.db.execute(
                """INSERT INTO commands (command_id, agent_id, action, params, dry_run, created_at, not_after,
                     created_by, campaign_id, batch_id, state, envelope) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)""",
                (cmd.command_id, cmd.agent_id, cmd.action, json.dumps(cmd.params), int(cmd.dry_run), cmd.created_at,
                 cmd.not_after, cmd.created_by, cmd.campaign_id, cmd.batch_id, cmd.state, cmd.envelope),
            )  # fmt: skip
            await self.db.executemany(
                "INSERT INTO executions (command_id, camera_id, agent_id, state, updated_at) VALUES (?,?,?,?,?)",
                [(cmd.command_id, cid, cmd.agent_id, "QUEUED", cmd.created_at) for cid in camera_ids],
            )
            await self.db.commit()

    async def set_command_state(self, command_id: str, state: str, envelope: bytes | None = None) -> None:
        async with self._lock:
            if envelope is not None:
                await self.db.execute(
                    "UPDATE commands SET state = ?, envelope = ? WHERE command_id = ?",
                    (state, envelope, command_id),
                )
            else:
                await self.db.execute(
                    "UPDATE commands SET state = ? WHERE command_id = ?", (state, command_id)
                )
            if state == "SENT":
                await self.db.execute(
                    "UPDATE executions SET state = 'SENT', updated_at = ? WHERE command_id = ? AND state = 'QUEUED'",
                    (time.time(), command_id),
                )
            await self.db.commit()

    def _command(self, r: aiosqlite.Row) -> CommandRow:
        d = dict(r)
        d["params"] = json.loads(d["params"])
        d["dry_run"] = bool(d["dry_run"])
        return CommandRow(**d)

    async def get_command(self, command_id: str) -> CommandRow | None:
        async with self.db.execute("SELECT * FROM commands WHERE command_id = ?", (command_id,)) as cur:
            row = await cur.fetchone()
        return self._command(row) if row is not None else None

    async def list_commands(self, limit: int = 50, offset: int = 0) -> list[CommandRow]:
        async with self.db.execute(
            "SELECT * FROM commands ORDER BY created_at DESC LIMIT ? OFFSET ?", (limit, offset)
        ) as cur:
            return [self._command(r) for r in await cur.fetchall()]

    def _execution(self, r: aiosqlite.Row) -> ExecutionRow:
        d = dict(r)
        d["settings"] = json.loads(d["settings"])
        d["snapshot"] = json.loads(d["snapshot"])
        return ExecutionRow(**d)

    async def executions(self, command_id: str) -> list[ExecutionRow]:
        async with self.db.execute(
            "SELECT * FROM executions WHERE command_id = ? ORDER BY camera_id", (command_id,)
        ) as cur:
            return [self._execution(r) for r in await cur.fetchall()]

    async def apply_update(self, upd: ExecutionRow) -> bool:
        """Apply an execution update unless it is a duplicate, stale, or would leave a final state.

        A final state is written once: a late IN_PROGRESS after SUCCEEDED, or a second final update, changes
        nothing, so an update redelivered by the broker is never counted twice."""
        async with self._lock:
            async with self.db.execute(
                "SELECT state, seq, agent_id FROM executions WHERE command_id = ? AND camera_id = ?",
                (upd.command_id, upd.camera_id),
            ) as cur:
                old = await cur.fetchone()
            if old is None:
                return False
            old_state, old_seq = str(old[0]), int(old[1])
            if not update_accepted(old_state, old_seq, upd, str(old[2])):
                return False
            await self.db.execute(
                """UPDATE executions SET state=?, settings=?, snapshot=?, snapshot_id=?, error_class=?, message=?,
                     seq=?, updated_at=? WHERE command_id=? AND camera_id=?""",
                (upd.state, json.dumps(upd.settings), json.dumps(upd.snapshot), upd.snapshot_id, upd.error_class,
                 upd.message, max(upd.seq, old_seq), time.time(), upd.command_id, upd.camera_id),
            )  # fmt: skip
            await self._roll_up(upd.command_id)
            await self.db.commit()
            return True

    async def apply_updates(self, rows: Sequence[ExecutionRow]) -> list[bool]:
        """apply_update for each row in order, in one transaction with one commit.

        Per update, apply_update costs ~9 awaited hops to aiosqlite's thread and a commit (bench/ingest.py
        profile); here the current states are read in one query, the rules run in Python against a running
        copy (so a duplicate or a stale row later in the same batch is judged as if applied one by one), the
        accepted rows are written with one executemany and each touched command is rolled up once."""
        if not rows:
            return []
        keys = list(dict.fromkeys((r.command_id, r.camera_id) for r in rows))
        async with self._lock:
            current: dict[tuple[str, str], tuple[str, int, str]] = {}
            for i in range(0, len(keys), 400):  # two variables per key: well under SQLite's variable limit
                chunk = keys[i : i + 400]
                async with self.db.execute(
                    f"""SELECT command_id, camera_id, state, seq, agent_id FROM executions
                        WHERE (command_id, camera_id) IN (VALUES {",".join(["(?,?)"] * len(chunk))})""",
                    [v for k in chunk for v in k],
                ) as cur:
                    for r in await cur.fetchall():
                        current[(str(r[0]), str(r[1]))] = (str(r[2]), int(r[3]), str(r[4]))
            out: list[bool] = []
            writes: list[tuple[Any, ...]] = []
            for upd in rows:
                key = (upd.command_id, upd.camera_id)
                old = current.get(key)
                if old is None or not update_accepted(old[0], old[1], upd, old[2]):
                    out.append(False)
                    continue
                seq = max(upd.seq, old[1])
                current[key] = (upd.state, seq, old[2])
                writes.append((upd.state, json.dumps(upd.settings), json.dumps(upd.snapshot), upd.snapshot_id,
                               upd.error_class, upd.message, seq, time.time(), upd.command_id, upd.camera_id))  # fmt: skip
                out.append(True)
            if writes:
                await self.db.executemany(
                    """UPDATE executions SET state=?, settings=?, snapshot=?, snapshot_id=?, error_class=?, message=?,
                         seq=?, updated_at=? WHERE command_id=? AND camera_id=?""",
                    writes,
                )
                for cid in dict.fromkeys(w[8] for w in writes):
                    await self._roll_up(cid)
                await self.db.commit()
            return out

    async def _roll_up(self, command_id: str) -> None:
        # Counted in SQL: fetching every execution's state per update made a 500-camera command quadratic
        # in Python row objects (bench/ingest.py profile).
        final = ", ".join(f"'{s}'" for s in sorted(FINAL_STATES))
        async with self.db.execute(
            f"""SELECT COUNT(*), COALESCE(SUM(state IN ({final})), 0), COALESCE(SUM(state = 'SUCCEEDED'), 0),
                       COALESCE(SUM(state = 'CANCELED'), 0), COALESCE(SUM(state NOT IN ('QUEUED', 'SENT')), 0)
                FROM executions WHERE command_id = ?""",
            (command_id,),
        ) as cur:
            got = await cur.fetchone()
        total, done, ok, canceled, started = (int(x) for x in got) if got else (0, 0, 0, 0, 0)
        if total and done == total:
            state = "SUCCEEDED" if ok == total else "COMPLETED_WITH_FAILURES"
            if canceled == total:
                state = "CANCELED"
            await self.db.execute("UPDATE commands SET state = ? WHERE command_id = ?", (state, command_id))
        elif started:
            await self.db.execute(
                "UPDATE commands SET state = 'IN_PROGRESS' WHERE command_id = ? AND state IN ('QUEUED', 'SENT')",
                (command_id,),
            )

    async def expire_executions(self, now: float) -> list[ExecutionRow]:
        """Executions whose command expired without a final state become TIMED_OUT (once)."""
        async with self._lock:
            async with self.db.execute(
                f"""SELECT e.* FROM executions e JOIN commands c ON c.command_id = e.command_id
                    WHERE c.not_after < ? AND e.state NOT IN ({",".join("?" * len(FINAL_STATES))})""",
                (now, *sorted(FINAL_STATES)),
            ) as cur:
                rows = [self._execution(r) for r in await cur.fetchall()]
            for r in rows:
                r.state, r.message, r.error_class = (
                    "TIMED_OUT",
                    "no final result before the command expired",
                    "timeout",
                )
                await self.db.execute(
                    "UPDATE executions SET state=?, message=?, error_class=?, updated_at=? WHERE command_id=? AND camera_id=?",
                    (r.state, r.message, r.error_class, now, r.command_id, r.camera_id),
                )
            for cid in {r.command_id for r in rows}:
                await self._roll_up(cid)
            await self.db.commit()
            return rows

    async def reject_pending(self, command_id: str, agent_id: str, message: str) -> int:
        """The agent refused the whole command: executions not yet started become REJECTED."""
        async with self._lock:
            cur = await self.db.execute(
                """UPDATE executions SET state='REJECTED', message=?, error_class='rejected', updated_at=?
                   WHERE command_id=? AND agent_id=? AND state IN ('QUEUED','SENT')""",
                (message, time.time(), command_id, agent_id),
            )
            await self._roll_up(command_id)
            await self.db.commit()
            return cur.rowcount or 0

    async def commands_in_state(self, state: str, now: float) -> list[CommandRow]:
        async with self.db.execute(
            "SELECT * FROM commands WHERE state = ? AND not_after > ? ORDER BY created_at", (state, now)
        ) as cur:
            return [self._command(r) for r in await cur.fetchall()]

    async def cancel_command(self, command_id: str) -> int:
        async with self._lock:
            cur = await self.db.execute(
                "UPDATE executions SET state='CANCELED', updated_at=? WHERE command_id=? AND state IN ('QUEUED','SENT')",
                (time.time(), command_id),
            )
            await self._roll_up(command_id)
            await self.db.commit()
            return cur.rowcount or 0

    # ---- people ------------------------------------------------------------------------------
    async def put_user(self, user: UserRow) -> None:
        async with self._lock:
            await self.db.execute(
                """INSERT INTO users (username, password_hash, role, approver_key, created) VALUES (?,?,?,?,?)
                   ON CONFLICT (username) DO UPDATE SET password_hash=excluded.password_hash, role=excluded.role,
                   approver_key=excluded.approver_key""",
                (
                    user.username,
                    user.password_hash,
                    user.role,
                    user.approver_key,
                    user.created or time.time(),
                ),
            )
            await self.db.commit()

    async def get_user(self, username: str) -> UserRow | None:
        async with self.db.execute("SELECT * FROM users WHERE username = ?", (username,)) as cur:
            row = await cur.fetchone()
        return UserRow(**dict(row)) if row is not None else None

    async def list_users(self) -> list[UserRow]:
        async with self.db.execute("SELECT * FROM users ORDER BY username") as cur:
            return [UserRow(**dict(r)) for r in await cur.fetchall()]

    async def add_token(self, token_hash: str, username: str, name: str) -> None:
        async with self._lock:
            await self.db.execute(
                "INSERT INTO api_tokens (token_hash, username, name, created) VALUES (?,?,?,?)",
                (token_hash, username, name, time.time()),
            )
            await self.db.commit()

    async def user_for_token(self, token_hash: str) -> UserRow | None:
        async with self.db.execute(
            """SELECT u.* FROM api_tokens t JOIN users u ON u.username = t.username
               WHERE t.token_hash = ? AND t.revoked = 0""",
            (token_hash,),
        ) as cur:
            row = await cur.fetchone()
        return UserRow(**dict(row)) if row is not None else None

    async def revoke_token(self, token_hash: str) -> bool:
        async with self._lock:
            cur = await self.db.execute(
                "UPDATE api_tokens SET revoked = 1 WHERE token_hash = ?", (token_hash,)
            )
            await self.db.commit()
            return (cur.rowcount or 0) > 0

    # ---- audit -------------------------------------------------------------------------------
    async def append_audit(
        self, actor: str, action: str, subject: str, details: dict[str, Any]
    ) -> AuditEntry:
        async with self._lock:
            async with self.db.execute("SELECT seq, hash FROM audit_head WHERE id = 1") as cur:
                head = await cur.fetchone()
            seq, prev = (int(head[0]) + 1, str(head[1])) if head else (1, GENESIS)
            at = time.time()
            h = entry_hash(prev, seq, at, actor, action, subject, details)
            await self.db.execute(
                "INSERT INTO audit (seq, at, actor, action, subject, details, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?)",
                (seq, at, actor, action, subject, json.dumps(details, sort_keys=True, default=str), prev, h),
            )
            await self.db.execute(
                "INSERT INTO audit_head (id, seq, hash) VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE SET seq=excluded.seq, hash=excluded.hash",
                (seq, h),
            )
            await self.db.commit()
            return AuditEntry(seq, at, actor, action, subject, details, prev, h)

    async def append_audit_many(self, entries: Sequence[AuditInput]) -> list[AuditEntry]:
        """append_audit for each entry in order: one head read, one executemany and one commit for the lot."""
        if not entries:
            return []
        async with self._lock:
            async with self.db.execute("SELECT seq, hash FROM audit_head WHERE id = 1") as cur:
                head = await cur.fetchone()
            seq, prev = (int(head[0]), str(head[1])) if head else (0, GENESIS)
            out: list[AuditEntry] = []
            for actor, action, subject, details in entries:
                seq += 1
                at = time.time()
                h = entry_hash(prev, seq, at, actor, action, subject, details)
                out.append(AuditEntry(seq, at, actor, action, subject, details, prev, h))
                prev = h
            await self.db.executemany(
                "INSERT INTO audit (seq, at, actor, action, subject, details, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?)",
                [(e.seq, e.at, e.actor, e.action, e.subject, json.dumps(e.details, sort_keys=True, default=str),
                  e.prev_hash, e.hash) for e in out],
            )  # fmt: skip
            await self.db.execute(
                "INSERT INTO audit_head (id, seq, hash) VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE SET seq=excluded.seq, hash=excluded.hash",
                (seq, prev),
            )
            await self.db.commit()
            return out

    async def audit_entries(self, limit: int | None = None, offset: int = 0) -> list[AuditEntry]:
        sql = "SELECT * FROM audit ORDER BY seq"
        args: list[Any] = []
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            args = [limit, offset]
        async with self.db.execute(sql, args) as cur:
            return [
                AuditEntry(int(r["seq"]), float(r["at"]), r["actor"], r["action"], r["subject"], json.loads(r["details"]),
                           r["prev_hash"], r["hash"])
                for r in await cur.fetchall()
            ]  # fmt: skip

    async def verify_audit(self) -> ChainReport:
        async with self.db.execute("SELECT seq, hash FROM audit_head WHERE id = 1") as cur:
            head = await cur.fetchone()
        return verify_chain(await self.audit_entries(), (int(head[0]), str(head[1])) if head else None)

    # ==== campaigns (owned by controller/campaigns; additive section) =========================================
    async def campaign_create(
        self, c: CampaignRow, batches: Sequence[BatchRow], members: Sequence[MemberRow]
    ) -> None:
        """The campaign, its batches and their cameras in one transaction: a plan is stored whole or not at all."""
        async with self._lock:
            try:
                await self.db.execute(
                    """INSERT INTO campaigns (campaign_id, name, spec, state, created_by, created_at, updated_at,
                         reason) VALUES (?,?,?,?,?,?,?,?)""",
                    (c.campaign_id, c.name, json.dumps(c.spec), c.state, c.created_by, c.created_at, c.updated_at,
                     c.reason),
                )  # fmt: skip
                await self.db.executemany(
                    """INSERT INTO campaign_batches (campaign_id, batch_id, idx, state, stage_idx, attempt, rollback_idx,
                         manifest, manifest_digest, manifest_not_after, reason, updated_at)
                       VALUES (?,?,?,?,?,?,?,?,?,?,?,?)""",
                    [(b.campaign_id, b.batch_id, b.idx, b.state, b.stage_idx, b.attempt, b.rollback_idx, b.manifest,
                      b.manifest_digest, b.manifest_not_after, b.reason, b.updated_at) for b in batches],
                )  # fmt: skip
                await self.db.executemany(
                    """INSERT INTO campaign_members (campaign_id, batch_id, camera_id, agent_id, lifecycle_before,
                         status, stages_done) VALUES (?,?,?,?,?,?,?)""",
                    [(m.campaign_id, m.batch_id, m.camera_id, m.agent_id, m.lifecycle_before, m.status,
                      m.stages_done) for m in members],
                )  # fmt: skip
                await self.db.commit()
            except Exception:
                await self.db.rollback()
                raise

    def _campaign(self, r: aiosqlite.Row) -> CampaignRow:
        d = dict(r)
        d["spec"] = json.loads(d["spec"])
        return CampaignRow(**d)

    async def campaign_get(self, campaign_id: str) -> CampaignRow | None:
        async with self.db.execute("SELECT * FROM campaigns WHERE campaign_id = ?", (campaign_id,)) as cur:
            row = await cur.fetchone()
        return self._campaign(row) if row is not None else None

    async def campaign_list(self, limit: int = 100, offset: int = 0) -> list[CampaignRow]:
        async with self.db.execute(
            "SELECT * FROM campaigns ORDER BY created_at DESC LIMIT ? OFFSET ?", (limit, offset)
        ) as cur:
            return [self._campaign(r) for r in await cur.fetchall()]

    async def campaign_update(self, c: CampaignRow) -> None:
        async with self._lock:
            await self.db.execute(
                "UPDATE campaigns SET state = ?, reason = ?, updated_at = ? WHERE campaign_id = ?",
                (c.state, c.reason, c.updated_at, c.campaign_id),
            )
            await self.db.commit()

    async def campaign_batches(self, campaign_id: str) -> list[BatchRow]:
        async with self.db.execute(
            "SELECT * FROM campaign_batches WHERE campaign_id = ? ORDER BY idx", (campaign_id,)
        ) as cur:
            return [BatchRow(**dict(r)) for r in await cur.fetchall()]

    async def campaign_batch_update(self, b: BatchRow) -> None:
        async with self._lock:
            await self.db.execute(
                """UPDATE campaign_batches SET state=?, stage_idx=?, attempt=?, rollback_idx=?, manifest=?,
                     manifest_digest=?, manifest_not_after=?, reason=?, updated_at=? WHERE campaign_id=? AND batch_id=?""",
                (b.state, b.stage_idx, b.attempt, b.rollback_idx, b.manifest, b.manifest_digest, b.manifest_not_after,
                 b.reason, b.updated_at, b.campaign_id, b.batch_id),
            )  # fmt: skip
            await self.db.commit()

    async def campaign_members(self, campaign_id: str, batch_id: str | None = None) -> list[MemberRow]:
        sql, args = "SELECT * FROM campaign_members WHERE campaign_id = ?", [campaign_id]
        if batch_id is not None:
            sql += " AND batch_id = ?"
            args.append(batch_id)
        async with self.db.execute(sql + " ORDER BY camera_id", args) as cur:
            return [MemberRow(**dict(r)) for r in await cur.fetchall()]

    async def campaign_member_update(self, m: MemberRow) -> None:
        async with self._lock:
            await self.db.execute(
                """UPDATE campaign_members SET agent_id=?, status=?, stages_done=? WHERE campaign_id=? AND camera_id=?""",
                (m.agent_id, m.status, m.stages_done, m.campaign_id, m.camera_id),
            )
            await self.db.commit()

    async def campaign_command_published(self, command_id: str, sent: bool) -> None:
        """PENDING -> SENT (executions QUEUED -> SENT) or -> QUEUED for the hub's dispatcher. Conditional, so
        results that already arrived (and rolled the command up) are never overwritten."""
        async with self._lock:
            await self.db.execute(
                "UPDATE commands SET state = ? WHERE command_id = ? AND state = 'PENDING'",
                ("SENT" if sent else "QUEUED", command_id),
            )
            if sent:
                await self.db.execute(
                    "UPDATE executions SET state = 'SENT', updated_at = ? WHERE command_id = ? AND state = 'QUEUED'",
                    (time.time(), command_id),
                )
            await self.db.commit()

    async def campaign_step_add(self, step: StepRow) -> bool:
        """Record a step before its command is published; False if the key exists (it was already sent)."""
        async with self._lock:
            cur = await self.db.execute(
                """INSERT INTO campaign_steps (step_key, campaign_id, batch_id, kind, stage_idx, attempt, agent_id,
                     command_id, camera_ids, created_at) VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT (step_key) DO NOTHING""",
                (step.step_key, step.campaign_id, step.batch_id, step.kind, step.stage_idx, step.attempt, step.agent_id,
                 step.command_id, json.dumps(step.camera_ids), step.created_at),
            )  # fmt: skip
            await self.db.commit()
            return (cur.rowcount or 0) > 0

    async def campaign_steps(self, campaign_id: str, batch_id: str | None = None) -> list[StepRow]:
        sql, args = "SELECT * FROM campaign_steps WHERE campaign_id = ?", [campaign_id]
        if batch_id is not None:
            sql += " AND batch_id = ?"
            args.append(batch_id)
        async with self.db.execute(sql + " ORDER BY created_at, step_key", args) as cur:
            out = []
            for r in await cur.fetchall():
                d = dict(r)
                d["camera_ids"] = json.loads(d["camera_ids"])
                out.append(StepRow(**d))
            return out

    async def campaign_approval_add(self, a: ApprovalRow) -> bool:
        """False when this person or this key already approved this manifest of the batch (each counts once)."""
        async with self._lock:
            cur = await self.db.execute(
                """INSERT INTO campaign_approvals (campaign_id, batch_id, username, key_id, signature, manifest_digest, at)
                   VALUES (?,?,?,?,?,?,?) ON CONFLICT DO NOTHING""",
                (a.campaign_id, a.batch_id, a.username, a.key_id, a.signature, a.manifest_digest, a.at),
            )
            await self.db.commit()
            return (cur.rowcount or 0) > 0

    async def campaign_approvals(self, campaign_id: str, batch_id: str) -> list[ApprovalRow]:
        async with self.db.execute(
            "SELECT * FROM campaign_approvals WHERE campaign_id = ? AND batch_id = ? ORDER BY at",
            (campaign_id, batch_id),
        ) as cur:
            return [ApprovalRow(**dict(r)) for r in await cur.fetchall()]

    async def retired_put(self, r: RetiredRow) -> None:
        async with self._lock:
            await self.db.execute(
                """INSERT INTO retired_cameras (camera_id, lifecycle, fingerprint, serial, macs, retired_at, seen_gone,
                     alerted_at) VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (camera_id) DO UPDATE SET lifecycle=excluded.lifecycle,
                   fingerprint=excluded.fingerprint, serial=excluded.serial, macs=excluded.macs,
                   retired_at=excluded.retired_at, seen_gone=excluded.seen_gone, alerted_at=excluded.alerted_at""",
                (r.camera_id, r.lifecycle, r.fingerprint, r.serial, json.dumps(r.macs), r.retired_at, int(r.seen_gone),
                 r.alerted_at),
            )  # fmt: skip
            await self.db.commit()

    async def retired_list(self) -> list[RetiredRow]:
        async with self.db.execute("SELECT * FROM retired_cameras ORDER BY camera_id") as cur:
            out = []
            for r in await cur.fetchall():
                d = dict(r)
                d["macs"] = json.loads(d["macs"])
                d["seen_gone"] = bool(d["seen_gone"])
                out.append(RetiredRow(**d))
            return out

    async def cameras_changed_since(self, since: float) -> list[tuple[CameraRow, bool]]:
        """Cameras written (inventoried or marked vanished) at or after `since`, with their vanished flag."""
        async with self.db.execute(
            "SELECT * FROM cameras WHERE updated_at >= ? ORDER BY updated_at", (since,)
        ) as cur:
            return [(_camera(r), bool(r["vanished"])) for r in await cur.fetchall()]

    def _alert(self, r: aiosqlite.Row) -> AlertRow:
        d = dict(r)
        d["details"] = json.loads(d["details"])
        return AlertRow(**d)

    async def alert_add(self, a: AlertRow) -> AlertRow:
        async with self._lock:
            cur = await self.db.execute(
                """INSERT INTO alerts (at, kind, camera_id, matched_camera_id, message, details) VALUES (?,?,?,?,?,?)""",
                (
                    a.at,
                    a.kind,
                    a.camera_id,
                    a.matched_camera_id,
                    a.message,
                    json.dumps(a.details, default=str),
                ),
            )
            await self.db.commit()
            a.alert_id = int(cur.lastrowid or 0)
            return a

    async def alerts(self, *, open_only: bool = False, limit: int = 100, offset: int = 0) -> list[AlertRow]:
        where = "WHERE acknowledged_at = 0" if open_only else ""
        async with self.db.execute(
            f"SELECT * FROM alerts {where} ORDER BY alert_id DESC LIMIT ? OFFSET ?", (limit, offset)
        ) as cur:
            return [self._alert(r) for r in await cur.fetchall()]

    async def alert_ack(self, alert_id: int, by: str, at: float) -> bool:
        async with self._lock:
            cur = await self.db.execute(
                "UPDATE alerts SET acknowledged_by = ?, acknowledged_at = ? WHERE alert_id = ? AND acknowledged_at = 0",
                (by, at, alert_id),
            )
            await self.db.commit()
            return (cur.rowcount or 0) > 0
