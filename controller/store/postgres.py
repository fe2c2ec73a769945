"""The PostgreSQL (asyncpg) implementation of the fleet store, for fleets and controller replicas beyond SQLite."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict, fields
from typing import Any

import asyncpg

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
from controller.store.migrations import MIGRATIONS
from controller.store.sqlite import COUNTABLE, ORDERABLE, TRACKED

CAMERA_COLUMNS = [f.name for f in fields(CameraRow)]
# Array types for the unnest() bulk upsert of cameras, in CAMERA_COLUMNS order (booleans are 0/1 integers).
_CAMERA_TYPES = {
    "port": "int4",
    "covered": "int4",
    "oem_rebrand": "int4",
    "confidence": "float8",
    "risk_score": "int4",
    "cloud_reachable": "int4",
    "reachable": "int4",
    "observed_at": "float8",
    "record": "bytea",
    "updated_at": "float8",
}
FINAL = sorted(FINAL_STATES)
# Lock keys (pg_advisory_xact_lock): replicas migrate one at a time and append to one audit chain.
MIGRATE_LOCK = 0x63616D66  # "camf"
AUDIT_LOCK = 0x61756469  # "audi"
TIMEOUT = 30.0

# Append-only audit: the database refuses UPDATE, DELETE and TRUNCATE (a superuser can disable the trigger,
# and then the hash chain shows the edit). Recreated on every open, so a disabled trigger is re-armed.
PG_AUDIT_GUARDS = """
CREATE OR REPLACE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit log is append-only' USING ERRCODE = 'insufficient_privilege';
END $$;
DROP TRIGGER IF EXISTS audit_no_change ON audit;
CREATE TRIGGER audit_no_change BEFORE UPDATE OR DELETE ON audit
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
DROP TRIGGER IF EXISTS audit_no_truncate ON audit;
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
    FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
"""

# The command's state follows its executions: all final -> SUCCEEDED / CANCELED / COMPLETED_WITH_FAILURES,
# any started -> IN_PROGRESS. One statement for any number of commands (same rule as SqliteStore._roll_up).
ROLL_UP = """
WITH s AS (
    SELECT command_id,
           bool_and(state = ANY($2::text[])) AS all_final,
           bool_and(state = 'SUCCEEDED') AS all_ok,
           bool_and(state = 'CANCELED') AS all_canceled,
           bool_or(state NOT IN ('QUEUED', 'SENT')) AS started
    FROM executions WHERE command_id = ANY($1::text[]) GROUP BY command_id
)
UPDATE commands c SET state = CASE
        WHEN NOT s.all_final THEN 'IN_PROGRESS'
        WHEN s.all_canceled THEN 'CANCELED'
        WHEN s.all_ok THEN 'SUCCEEDED'
        ELSE 'COMPLETED_WITH_FAILURES' END
FROM s
WHERE c.command_id = s.command_id AND (s.all_final OR (s.started AND c.state IN ('QUEUED', 'SENT')))
"""


def _count(status: str) -> int:
    """asyncpg returns the command tag ("UPDATE 3", "INSERT 0 1"): the row count is its last word."""
    try:
        return int(status.rsplit(" ", 1)[-1])
    except ValueError:
        return 0


def _camera(r: asyncpg.Record) -> CameraRow:
    d = dict(r)
    d.pop("vanished", None)
    for k in ("covered", "oem_rebrand", "cloud_reachable", "reachable"):
        d[k] = bool(d[k])
    d["tags"] = json.loads(d["tags"])
    d["record"] = bytes(d["record"])
    return CameraRow(**d)


def _where(flt: CameraFilter) -> tuple[str, list[Any]]:
    clauses: list[str] = ["vanished = 0"]
    args: list[Any] = []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    for col in ("origin", "manufacturer", "site", "agent_id", "risk_level", "lifecycle"):
        value = getattr(flt, col)
        if value:
            clauses.append(f"{col} = {arg(value)}")
    for col in ("covered", "cloud_reachable"):
        value = getattr(flt, col)
        if value is not None:
            clauses.append(f"{col} = {arg(int(value))}")
    if flt.search:
        # ILIKE: SQLite's LIKE is case-insensitive for ASCII, and the search box must behave the same on both.
        p = arg(f"%{flt.search}%")
        clauses.append(
            f"(camera_id ILIKE {p} OR host ILIKE {p} OR model ILIKE {p} OR manufacturer ILIKE {p} "
            f"OR firmware ILIKE {p})"
        )
    if flt.camera_ids is not None:
        clauses.append(f"camera_id = ANY({arg(list(flt.camera_ids))}::text[])")
    return " AND ".join(clauses), args


def _command(r: asyncpg.Record) -> CommandRow:
    d = dict(r)
    d["params"] = json.loads(d["params"])
    d["dry_run"] = bool(d["dry_run"])
    d["envelope"] = bytes(d["envelope"])
    return CommandRow(**d)


def _execution(r: asyncpg.Record) -> ExecutionRow:
    d = dict(r)
    d["settings"] = json.loads(d["settings"])
    d["snapshot"] = json.loads(d["snapshot"])
    return ExecutionRow(**d)


class PostgresStore:
    """A connection pool; every multi-statement change runs in one transaction, and rows that replicas may
    race on are locked (SELECT ... FOR UPDATE, advisory locks), so several controllers can share one database."""

    def __init__(
        self,
        url: str,
        *,
        min_size: int = 1,
        max_size: int = 10,
        on_connect: Callable[[asyncpg.Connection], Awaitable[None]] | None = None,
    ) -> None:
        self.url = url
        self._min, self._max = min_size, max_size
        self._on_connect = on_connect  # per-connection setup (session settings, query logging in tests)
        self._pool: asyncpg.Pool | None = None

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("store is not open")
        return self._pool

    async def open(self) -> None:
        try:
            self._pool = await asyncpg.create_pool(
                self.url,
                min_size=self._min,
                max_size=self._max,
                timeout=TIMEOUT,
                command_timeout=TIMEOUT,
                init=self._on_connect,
                server_settings={"application_name": "camfleet-controller"},
            )
        except (OSError, asyncpg.PostgresError) as exc:
            # The url may carry a password: name only the failure, not the url.
            raise ConnectionError(f"cannot connect to PostgreSQL: {exc}") from exc
        await self._migrate()

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[asyncpg.Connection]:
        async with self.pool.acquire(timeout=TIMEOUT) as conn, conn.transaction():
            yield conn

    async def _migrate(self) -> None:
        async with self._tx() as conn:
            # Two replicas starting together: the second waits here, then sees the migrations as applied.
            await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATE_LOCK)
            await conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            current = await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_version")
            for version, sql in enumerate(MIGRATIONS, start=1):
                if version <= current:
                    continue
                await conn.execute(sql)  # the portable SQL is native PostgreSQL (BIGSERIAL, BYTEA)
                await conn.execute("INSERT INTO schema_version VALUES ($1)", version)
            await conn.execute(PG_AUDIT_GUARDS)

    async def schema_version(self) -> int:
        v = await self.pool.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_version")
        return int(v)

    # ---- agents ------------------------------------------------------------------------------
    async def upsert_agent(self, row: AgentRow) -> bool:
        """Apply a birth/status message unless it is older than what is stored (a stale boot_seq)."""
        status = await self.pool.execute(
            """INSERT INTO agents (agent_id, site, version, boot_seq, online, last_seen, capabilities, camera_count)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
               ON CONFLICT (agent_id) DO UPDATE SET site=excluded.site, version=excluded.version,
                 boot_seq=excluded.boot_seq, online=excluded.online, last_seen=excluded.last_seen,
                 capabilities=excluded.capabilities, camera_count=excluded.camera_count
               WHERE agents.boot_seq <= excluded.boot_seq""",
            row.agent_id, row.site, row.version, row.boot_seq, int(row.online), row.last_seen,
            json.dumps(row.capabilities), row.camera_count,
        )  # fmt: skip
        return _count(status) > 0

    async def mark_agent_offline(self, agent_id: str, boot_seq: int, at: float) -> bool:
        """A death (Last Will) counts only for the boot it belongs to, as Sparkplug's bdSeq rule says."""
        status = await self.pool.execute(
            "UPDATE agents SET online = 0, last_seen = $1 WHERE agent_id = $2 AND boot_seq <= $3",
            at, agent_id, boot_seq,
        )  # fmt: skip
        return _count(status) > 0

    async def touch_agent(self, agent_id: str, at: float) -> None:
        await self.pool.execute("UPDATE agents SET last_seen = $1 WHERE agent_id = $2", at, agent_id)

    async def list_agents(self) -> list[AgentRow]:
        out = []
        for r in await self.pool.fetch("SELECT * FROM agents ORDER BY agent_id"):
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
        so a redelivered or reordered message never rolls a camera back. Returns cameras written.

        The hot path of ingest: a constant number of round trips per report whatever its size (old rows in
        one SELECT, history and cameras as unnest() bulk statements)."""
        now = time.time()
        async with self._tx() as conn:
            await conn.execute("INSERT INTO agents (agent_id) VALUES ($1) ON CONFLICT DO NOTHING", agent_id)
            # The agent row lock orders concurrent reports of one agent (two replicas, redelivery).
            got = await conn.fetchval(
                "SELECT inventory_seq FROM agents WHERE agent_id = $1 FOR UPDATE", agent_id
            )
            if seq and int(got) >= seq:
                return 0
            ids = sorted({r.camera_id for r in rows})
            current: dict[str, dict[str, Any]] = {
                r["camera_id"]: dict(r)
                for r in await conn.fetch(
                    f"SELECT camera_id, {', '.join(TRACKED)}, lifecycle, tags FROM cameras "
                    "WHERE camera_id = ANY($1::text[]) ORDER BY camera_id FOR UPDATE",
                    ids,
                )
            }
            history: list[tuple[str, float, str]] = []
            latest: dict[str, dict[str, Any]] = {}
            for row in rows:  # in report order, so a camera listed twice behaves as on SQLite
                values = {k: int(v) if isinstance(v, bool) else v for k, v in asdict(row).items()}
                values["tags"] = json.dumps(row.tags)
                values["updated_at"] = now
                old = current.get(row.camera_id)
                if old is not None:
                    # Lifecycle and tags belong to the controller (campaigns, operators), not to the agent.
                    values["lifecycle"], values["tags"] = old["lifecycle"], old["tags"]
                    change = {k: [old[k], getattr(row, k)] for k in TRACKED if old[k] != values[k]}
                    if change:
                        history.append((row.camera_id, now, json.dumps(change, default=str)))
                else:
                    history.append((row.camera_id, now, json.dumps({"first_seen": [None, row.host]})))
                current[row.camera_id] = values
                latest[row.camera_id] = values
            if history:
                await conn.execute(
                    "INSERT INTO camera_history (camera_id, at, change) "
                    "SELECT * FROM unnest($1::text[], $2::float8[], $3::text[])",
                    *map(list, zip(*history, strict=True)),
                )
            if latest:
                cols = ", ".join(CAMERA_COLUMNS)
                arrays = ", ".join(
                    f"${i}::{_CAMERA_TYPES.get(c, 'text')}[]" for i, c in enumerate(CAMERA_COLUMNS, start=1)
                )
                updates = ", ".join(
                    f"{c}=excluded.{c}" for c in CAMERA_COLUMNS if c not in ("camera_id", "lifecycle", "tags")
                )
                await conn.execute(
                    f"INSERT INTO cameras ({cols}) SELECT * FROM unnest({arrays}) "
                    f"ON CONFLICT (camera_id) DO UPDATE SET {updates}, vanished = 0",
                    *([v[c] for v in latest.values()] for c in CAMERA_COLUMNS),
                )
            if removed:
                await conn.execute(
                    "UPDATE cameras SET vanished = 1, updated_at = $1 "
                    "WHERE agent_id = $2 AND camera_id = ANY($3::text[])",
                    now, agent_id, list(removed),
                )  # fmt: skip
            if full:
                await conn.execute(
                    "UPDATE cameras SET vanished = 1, updated_at = $1 "
                    "WHERE agent_id = $2 AND vanished = 0 AND NOT (camera_id = ANY($3::text[]))",
                    now, agent_id, ids,
                )  # fmt: skip
            await conn.execute(
                """UPDATE agents SET inventory_seq = $1, last_seen = $2,
                     camera_count = (SELECT COUNT(*) FROM cameras WHERE agent_id = $3 AND vanished = 0)
                   WHERE agent_id = $3""",
                seq, now, agent_id,
            )  # fmt: skip
            return len(rows)

    async def get_camera(self, camera_id: str) -> CameraRow | None:
        r = await self.pool.fetchrow("SELECT * FROM cameras WHERE camera_id = $1", camera_id)
        return _camera(r) if r is not None else None

    async def find_by_fingerprint(self, fingerprint: str) -> list[CameraRow]:
        return [
            _camera(r)
            for r in await self.pool.fetch("SELECT * FROM cameras WHERE fingerprint = $1", fingerprint)
        ]

    async def query_cameras(
        self, flt: CameraFilter, *, limit: int = 50, offset: int = 0, order: str = "camera_id"
    ) -> tuple[list[CameraRow], int]:
        desc = order.startswith("-")
        col = order.lstrip("-")
        if col not in ORDERABLE:
            raise ValueError(f"cannot sort by {col!r}; use one of {sorted(ORDERABLE)}")
        where, args = _where(flt)
        n = len(args)
        async with self.pool.acquire(timeout=TIMEOUT) as conn, conn.transaction(isolation="repeatable_read"):
            # One snapshot for the page and its total, so they agree while ingest writes.
            total = await conn.fetchval(f"SELECT COUNT(*) FROM cameras WHERE {where}", *args)
            rows = await conn.fetch(
                f"SELECT * FROM cameras WHERE {where} ORDER BY {col} {'DESC' if desc else 'ASC'}, camera_id "
                f"LIMIT ${n + 1} OFFSET ${n + 2}",
                *args, limit, offset,
            )  # fmt: skip
        return [_camera(r) for r in rows], int(total)

    async def camera_history(self, camera_id: str, limit: int = 100) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            "SELECT at, change FROM camera_history WHERE camera_id = $1 ORDER BY at DESC, id DESC LIMIT $2",
            camera_id, limit,
        )  # fmt: skip
        return [{"at": r["at"], "change": json.loads(r["change"])} for r in rows]

    async def set_lifecycle(self, camera_id: str, lifecycle: str) -> None:
        async with self._tx() as conn:
            await conn.execute(
                "UPDATE cameras SET lifecycle = $1, updated_at = $2 WHERE camera_id = $3",
                lifecycle, time.time(), camera_id,
            )  # fmt: skip
            await conn.execute(
                "INSERT INTO camera_history (camera_id, at, change) VALUES ($1, $2, $3)",
                camera_id, time.time(), json.dumps({"lifecycle": [None, lifecycle]}),
            )  # fmt: skip

    async def counts(self, column: str, flt: CameraFilter | None = None) -> dict[str, int]:
        if column not in COUNTABLE and column not in ("covered", "cloud_reachable", "oem_rebrand"):
            raise ValueError(f"cannot count by {column!r}")
        where, args = _where(flt or CameraFilter())
        rows = await self.pool.fetch(
            f"SELECT {column}, COUNT(*) FROM cameras WHERE {where} GROUP BY {column}", *args
        )
        return {str(r[0]): int(r[1]) for r in rows}

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
        rows = await self.pool.fetch(sql, *args)
        n = len(columns)
        return [
            (tuple(str(int(v)) if isinstance(v, bool) else str(v) for v in r[:n]), int(r[n])) for r in rows
        ]

    # ---- commands and executions -------------------------------------------------------------
    async def create_command(self, cmd: CommandRow, camera_ids: Sequence[str]) -> None:
        async with self._tx() as conn:
            await conn.execute(
                """INSERT INTO commands (command_id, agent_id, action, params, dry_run, created_at, not_after,
                     created_by, campaign_id, batch_id, state, envelope)
                   VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)""",
                cmd.command_id, cmd.agent_id, cmd.action, json.dumps(cmd.params), int(cmd.dry_run), cmd.created_at,
                cmd.not_after, cmd.created_by, cmd.campaign_id, cmd.batch_id, cmd.state, cmd.envelope,
            )  # fmt: skip
            await conn.execute(
                """INSERT INTO executions (command_id, camera_id, agent_id, state, updated_at)
                   SELECT $1, c, $2, 'QUEUED', $3 FROM unnest($4::text[]) AS c""",
                cmd.command_id, cmd.agent_id, cmd.created_at, list(camera_ids),
            )  # fmt: skip

    async def set_command_state(self, command_id: str, state: str, envelope: bytes | None = None) -> None:
        async with self._tx() as conn:
            if envelope is not None:
                await conn.execute(
                    "UPDATE commands SET state = $1, envelope = $2 WHERE command_id = $3",
                    state, envelope, command_id,
                )  # fmt: skip
            else:
                await conn.execute("UPDATE commands SET state = $1 WHERE command_id = $2", state, command_id)
            if state == "SENT":
                await conn.execute(
                    "UPDATE executions SET state = 'SENT', updated_at = $1 WHERE command_id = $2 AND state = 'QUEUED'",
                    time.time(), command_id,
                )  # fmt: skip

    async def get_command(self, command_id: str) -> CommandRow | None:
        r = await self.pool.fetchrow("SELECT * FROM commands WHERE command_id = $1", command_id)
        return _command(r) if r is not None else None

    async def list_commands(self, limit: int = 50, offset: int = 0) -> list[CommandRow]:
        rows = await self.pool.fetch(
            "SELECT * FROM commands ORDER BY created_at DESC LIMIT $1 OFFSET $2", limit, offset
        )
        return [_command(r) for r in rows]

    async def executions(self, command_id: str) -> list[ExecutionRow]:
        rows = await self.pool.fetch(
            "SELECT * FROM executions WHERE command_id = $1 ORDER BY camera_id", command_id
        )
        return [_execution(r) for r in rows]

    @staticmethod
    async def _lock_commands(conn: asyncpg.Connection, command_ids: Sequence[str]) -> None:
        # Every change to a command's executions first locks the command row (in id order: no deadlocks), so
        # the roll-up of two replicas updating sibling executions sees both updates and none is lost.
        await conn.execute(
            "SELECT 1 FROM commands WHERE command_id = ANY($1::text[]) ORDER BY command_id FOR UPDATE",
            sorted(set(command_ids)),
        )

    async def apply_update(self, upd: ExecutionRow) -> bool:
        """Apply an execution update unless it is a duplicate, stale, or would leave a final state.

        A final state is written once: a late IN_PROGRESS after SUCCEEDED, or a second final update, changes
        nothing, so an update redelivered by the broker is never counted twice."""
        async with self._tx() as conn:
            await self._lock_commands(conn, [upd.command_id])
            old = await conn.fetchrow(
                "SELECT state, seq, agent_id FROM executions WHERE command_id = $1 AND camera_id = $2",
                upd.command_id, upd.camera_id,
            )  # fmt: skip
            if old is None:
                return False
            old_state, old_seq = str(old["state"]), int(old["seq"])
            if not update_accepted(old_state, old_seq, upd, str(old["agent_id"])):
                return False
            await conn.execute(
                """UPDATE executions SET state=$1, settings=$2, snapshot=$3, snapshot_id=$4, error_class=$5,
                     message=$6, seq=$7, updated_at=$8 WHERE command_id=$9 AND camera_id=$10""",
                upd.state, json.dumps(upd.settings), json.dumps(upd.snapshot), upd.snapshot_id, upd.error_class,
                upd.message, max(upd.seq, old_seq), time.time(), upd.command_id, upd.camera_id,
            )  # fmt: skip
            await conn.execute(ROLL_UP, [upd.command_id], FINAL)
            return True

    async def apply_updates(self, rows: Sequence[ExecutionRow]) -> list[bool]:
        """apply_update for each row in order, in one transaction: the commands locked once (in id order, as
        apply_update does, so replicas cannot deadlock), the current states read in one query, the rules run
        against a running copy, the accepted rows written with one executemany, one roll-up statement.
        Per update, apply_update is a pool checkout and ~6 round trips (bench/ingest.py profile)."""
        if not rows:
            return []
        keys = list(dict.fromkeys((r.command_id, r.camera_id) for r in rows))
        async with self._tx() as conn:
            await self._lock_commands(conn, [k[0] for k in keys])
            found = await conn.fetch(
                """SELECT e.command_id, e.camera_id, e.state, e.seq, e.agent_id FROM executions e
                   JOIN unnest($1::text[], $2::text[]) AS k(command_id, camera_id)
                     ON e.command_id = k.command_id AND e.camera_id = k.camera_id""",
                [k[0] for k in keys], [k[1] for k in keys],
            )  # fmt: skip
            current = {(str(r[0]), str(r[1])): (str(r[2]), int(r[3]), str(r[4])) for r in found}
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
                await conn.executemany(
                    """UPDATE executions SET state=$1, settings=$2, snapshot=$3, snapshot_id=$4, error_class=$5,
                         message=$6, seq=$7, updated_at=$8 WHERE command_id=$9 AND camera_id=$10""",
                    writes,
                )
                await conn.execute(ROLL_UP, list(dict.fromkeys(w[8] for w in writes)), FINAL)
            return out

    async def expire_executions(self, now: float) -> list[ExecutionRow]:
        """Executions whose command expired without a final state become TIMED_OUT (once)."""
        async with self._tx() as conn:
            candidates = await conn.fetch(
                """SELECT DISTINCT c.command_id FROM commands c JOIN executions e ON e.command_id = c.command_id
                   WHERE c.not_after < $1 AND NOT (e.state = ANY($2::text[]))""",
                now, FINAL,
            )  # fmt: skip
            expired = [str(r[0]) for r in candidates]
            if not expired:
                return []
            await self._lock_commands(conn, expired)
            rows = await conn.fetch(
                """UPDATE executions e SET state = 'TIMED_OUT', message = 'no final result before the command expired',
                     error_class = 'timeout', updated_at = $1
                   FROM commands c
                   WHERE c.command_id = e.command_id AND c.command_id = ANY($2::text[]) AND c.not_after < $1
                     AND NOT (e.state = ANY($3::text[]))
                   RETURNING e.*""",
                now, expired, FINAL,
            )  # fmt: skip
            await conn.execute(ROLL_UP, expired, FINAL)
            out = [_execution(r) for r in rows]
            out.sort(key=lambda e: (e.command_id, e.camera_id))
            return out

    async def reject_pending(self, command_id: str, agent_id: str, message: str) -> int:
        """The agent refused the whole command: executions not yet started become REJECTED."""
        async with self._tx() as conn:
            await self._lock_commands(conn, [command_id])
            status = await conn.execute(
                """UPDATE executions SET state='REJECTED', message=$1, error_class='rejected', updated_at=$2
                   WHERE command_id=$3 AND agent_id=$4 AND state IN ('QUEUED','SENT')""",
                message, time.time(), command_id, agent_id,
            )  # fmt: skip
            await conn.execute(ROLL_UP, [command_id], FINAL)
            return _count(status)

    async def commands_in_state(self, state: str, now: float) -> list[CommandRow]:
        rows = await self.pool.fetch(
            "SELECT * FROM commands WHERE state = $1 AND not_after > $2 ORDER BY created_at", state, now
        )
        return [_command(r) for r in rows]

    async def cancel_command(self, command_id: str) -> int:
        async with self._tx() as conn:
            await self._lock_commands(conn, [command_id])
            status = await conn.execute(
                "UPDATE executions SET state='CANCELED', updated_at=$1 WHERE command_id=$2 AND state IN ('QUEUED','SENT')",
                time.time(), command_id,
            )  # fmt: skip
            await conn.execute(ROLL_UP, [command_id], FINAL)
            return _count(status)

    # ---- people ------------------------------------------------------------------------------
    async def put_user(self, user: UserRow) -> None:
        await self.pool.execute(
            """INSERT INTO users (username, password_hash, role, approver_key, created) VALUES ($1,$2,$3,$4,$5)
               ON CONFLICT (username) DO UPDATE SET password_hash=excluded.password_hash, role=excluded.role,
               approver_key=excluded.approver_key""",
            user.username, user.password_hash, user.role, user.approver_key, user.created or time.time(),
        )  # fmt: skip

    async def get_user(self, username: str) -> UserRow | None:
        r = await self.pool.fetchrow("SELECT * FROM users WHERE username = $1", username)
        return UserRow(**dict(r)) if r is not None else None

    async def list_users(self) -> list[UserRow]:
        return [UserRow(**dict(r)) for r in await self.pool.fetch("SELECT * FROM users ORDER BY username")]

    async def add_token(self, token_hash: str, username: str, name: str) -> None:
        await self.pool.execute(
            "INSERT INTO api_tokens (token_hash, username, name, created) VALUES ($1,$2,$3,$4)",
            token_hash, username, name, time.time(),
        )  # fmt: skip

    async def user_for_token(self, token_hash: str) -> UserRow | None:
        r = await self.pool.fetchrow(
            """SELECT u.* FROM api_tokens t JOIN users u ON u.username = t.username
               WHERE t.token_hash = $1 AND t.revoked = 0""",
            token_hash,
        )
        return UserRow(**dict(r)) if r is not None else None

    async def revoke_token(self, token_hash: str) -> bool:
        status = await self.pool.execute(
            "UPDATE api_tokens SET revoked = 1 WHERE token_hash = $1", token_hash
        )
        return _count(status) > 0

    # ---- audit -------------------------------------------------------------------------------
    async def append_audit(
        self, actor: str, action: str, subject: str, details: dict[str, Any]
    ) -> AuditEntry:
        async with self._tx() as conn:
            # One chain for all replicas: appends are serialised by a transaction-scoped advisory lock.
            await conn.execute("SELECT pg_advisory_xact_lock($1)", AUDIT_LOCK)
            head = await conn.fetchrow("SELECT seq, hash FROM audit_head WHERE id = 1")
            seq, prev = (int(head["seq"]) + 1, str(head["hash"])) if head else (1, GENESIS)
            at = time.time()
            h = entry_hash(prev, seq, at, actor, action, subject, details)
            await conn.execute(
                """INSERT INTO audit (seq, at, actor, action, subject, details, prev_hash, hash)
                   VALUES ($1,$2,$3,$4,$5,$6,$7,$8)""",
                seq, at, actor, action, subject, json.dumps(details, sort_keys=True, default=str), prev, h,
            )  # fmt: skip
            await conn.execute(
                """INSERT INTO audit_head (id, seq, hash) VALUES (1, $1, $2)
                   ON CONFLICT (id) DO UPDATE SET seq=excluded.seq, hash=excluded.hash""",
                seq, h,
            )  # fmt: skip
            return AuditEntry(seq, at, actor, action, subject, details, prev, h)

    async def append_audit_many(self, entries: Sequence[AuditInput]) -> list[AuditEntry]:
        """append_audit for each entry in order, in one transaction under the same advisory lock."""
        if not entries:
            return []
        async with self._tx() as conn:
            await conn.execute("SELECT pg_advisory_xact_lock($1)", AUDIT_LOCK)
            head = await conn.fetchrow("SELECT seq, hash FROM audit_head WHERE id = 1")
            seq, prev = (int(head["seq"]), str(head["hash"])) if head else (0, GENESIS)
            out: list[AuditEntry] = []
            for actor, action, subject, details in entries:
                seq += 1
                at = time.time()
                h = entry_hash(prev, seq, at, actor, action, subject, details)
                out.append(AuditEntry(seq, at, actor, action, subject, details, prev, h))
                prev = h
            await conn.executemany(
                """INSERT INTO audit (seq, at, actor, action, subject, details, prev_hash, hash)
                   VALUES ($1,$2,$3,$4,$5,$6,$7,$8)""",
                [(e.seq, e.at, e.actor, e.action, e.subject, json.dumps(e.details, sort_keys=True, default=str),
                  e.prev_hash, e.hash) for e in out],
            )  # fmt: skip
            await conn.execute(
                """INSERT INTO audit_head (id, seq, hash) VALUES (1, $1, $2)
                   ON CONFLICT (id) DO UPDATE SET seq=excluded.seq, hash=excluded.hash""",
                seq, prev,
            )  # fmt: skip
            return out

    async def audit_entries(self, limit: int | None = None, offset: int = 0) -> list[AuditEntry]:
        if limit is None:
            rows = await self.pool.fetch("SELECT * FROM audit ORDER BY seq")
        else:
            rows = await self.pool.fetch("SELECT * FROM audit ORDER BY seq LIMIT $1 OFFSET $2", limit, offset)
        return [
            AuditEntry(int(r["seq"]), float(r["at"]), r["actor"], r["action"], r["subject"], json.loads(r["details"]),
                       r["prev_hash"], r["hash"])
            for r in rows
        ]  # fmt: skip

    async def verify_audit(self) -> ChainReport:
        async with self.pool.acquire(timeout=TIMEOUT) as conn, conn.transaction(isolation="repeatable_read"):
            # Head and entries from one snapshot: an append in between must not look like a truncation.
            head = await conn.fetchrow("SELECT seq, hash FROM audit_head WHERE id = 1")
            rows = await conn.fetch("SELECT * FROM audit ORDER BY seq")
        entries = [
            AuditEntry(int(r["seq"]), float(r["at"]), r["actor"], r["action"], r["subject"], json.loads(r["details"]),
                       r["prev_hash"], r["hash"])
            for r in rows
        ]  # fmt: skip
        return verify_chain(entries, (int(head["seq"]), str(head["hash"])) if head else None)

    # ==== campaigns (same rules as SqliteStore's campaign section) ==========================================
    async def campaign_create(
        self, c: CampaignRow, batches: Sequence[BatchRow], members: Sequence[MemberRow]
    ) -> None:
        """The campaign, its batches and their cameras in one transaction: a plan is stored whole or not at all."""
        async with self._tx() as conn:
            await conn.execute(
                """INSERT INTO campaigns (campaign_id, name, spec, state, created_by, created_at, updated_at, reason)
                   VALUES ($1,$2,$3,$4,$5,$6,$7,$8)""",
                c.campaign_id, c.name, json.dumps(c.spec), c.state, c.created_by, c.created_at, c.updated_at,
                c.reason,
            )  # fmt: skip
            if batches:
                await conn.executemany(
                    """INSERT INTO campaign_batches (campaign_id, batch_id, idx, state, stage_idx, attempt,
                         rollback_idx, manifest, manifest_digest, manifest_not_after, reason, updated_at)
                       VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)""",
                    [(b.campaign_id, b.batch_id, b.idx, b.state, b.stage_idx, b.attempt, b.rollback_idx, b.manifest,
                      b.manifest_digest, b.manifest_not_after, b.reason, b.updated_at) for b in batches],
                )  # fmt: skip
            if members:
                # Thousands of cameras per campaign: one unnest() statement rather than a row per round trip.
                await conn.execute(
                    """INSERT INTO campaign_members (campaign_id, batch_id, camera_id, agent_id, lifecycle_before,
                         status, stages_done)
                       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                                            $7::int4[])""",
                    *map(list, zip(*[(m.campaign_id, m.batch_id, m.camera_id, m.agent_id, m.lifecycle_before,
                                      m.status, m.stages_done) for m in members], strict=True)),
                )  # fmt: skip

    @staticmethod
    def _campaign(r: asyncpg.Record) -> CampaignRow:
        d = dict(r)
        d["spec"] = json.loads(d["spec"])
        return CampaignRow(**d)

    async def campaign_get(self, campaign_id: str) -> CampaignRow | None:
        r = await self.pool.fetchrow("SELECT * FROM campaigns WHERE campaign_id = $1", campaign_id)
        return self._campaign(r) if r is not None else None

    async def campaign_list(self, limit: int = 100, offset: int = 0) -> list[CampaignRow]:
        rows = await self.pool.fetch(
            "SELECT * FROM campaigns ORDER BY created_at DESC LIMIT $1 OFFSET $2", limit, offset
        )
        return [self._campaign(r) for r in rows]

    async def campaign_update(self, c: CampaignRow) -> None:
        await self.pool.execute(
            "UPDATE campaigns SET state = $1, reason = $2, updated_at = $3 WHERE campaign_id = $4",
            c.state, c.reason, c.updated_at, c.campaign_id,
        )  # fmt: skip

    @staticmethod
    def _batch(r: asyncpg.Record) -> BatchRow:
        d = dict(r)
        d["manifest"] = bytes(d["manifest"])
        return BatchRow(**d)

    async def campaign_batches(self, campaign_id: str) -> list[BatchRow]:
        rows = await self.pool.fetch(
            "SELECT * FROM campaign_batches WHERE campaign_id = $1 ORDER BY idx", campaign_id
        )
        return [self._batch(r) for r in rows]

    async def campaign_batch_update(self, b: BatchRow) -> None:
        await self.pool.execute(
            """UPDATE campaign_batches SET state=$1, stage_idx=$2, attempt=$3, rollback_idx=$4, manifest=$5,
                 manifest_digest=$6, manifest_not_after=$7, reason=$8, updated_at=$9
               WHERE campaign_id=$10 AND batch_id=$11""",
            b.state, b.stage_idx, b.attempt, b.rollback_idx, b.manifest, b.manifest_digest, b.manifest_not_after,
            b.reason, b.updated_at, b.campaign_id, b.batch_id,
        )  # fmt: skip

    async def campaign_members(self, campaign_id: str, batch_id: str | None = None) -> list[MemberRow]:
        if batch_id is None:
            rows = await self.pool.fetch(
                "SELECT * FROM campaign_members WHERE campaign_id = $1 ORDER BY camera_id", campaign_id
            )
        else:
            rows = await self.pool.fetch(
                "SELECT * FROM campaign_members WHERE campaign_id = $1 AND batch_id = $2 ORDER BY camera_id",
                campaign_id, batch_id,
            )  # fmt: skip
        return [MemberRow(**dict(r)) for r in rows]

    async def campaign_member_update(self, m: MemberRow) -> None:
        await self.pool.execute(
            "UPDATE campaign_members SET agent_id=$1, status=$2, stages_done=$3 WHERE campaign_id=$4 AND camera_id=$5",
            m.agent_id, m.status, m.stages_done, m.campaign_id, m.camera_id,
        )  # fmt: skip

    async def campaign_command_published(self, command_id: str, sent: bool) -> None:
        """PENDING -> SENT (executions QUEUED -> SENT) or -> QUEUED for the hub's dispatcher. Conditional, so
        results that already arrived (and rolled the command up) are never overwritten."""
        await self._published(command_id, "PENDING", sent)

    # ---- dispatch claims (several replicas; used by Hub.dispatch_queued when the store has them) ----------
    async def claim_command(self, command_id: str) -> bool:
        """QUEUED -> DISPATCHING in one conditional statement: of several replicas, exactly one wins."""
        return _count(await self.pool.execute(
            "UPDATE commands SET state = 'DISPATCHING' WHERE command_id = $1 AND state = 'QUEUED'", command_id
        )) > 0  # fmt: skip

    async def release_command(self, command_id: str, sent: bool) -> None:
        """DISPATCHING -> SENT (executions follow) or back to QUEUED; conditional, so a roll-up of results that
        beat the PUBACK is kept."""
        await self._published(command_id, "DISPATCHING", sent)

    async def _published(self, command_id: str, from_state: str, sent: bool) -> None:
        """from_state -> SENT (executions QUEUED -> SENT) or back to QUEUED. Conditional on from_state, so a
        roll-up of results that beat the broker's PUBACK is never overwritten; executions follow on SENT even
        when the command had already left from_state, as on SQLite."""
        async with self._tx() as conn:
            await self._lock_commands(conn, [command_id])
            await conn.execute(
                "UPDATE commands SET state = $1 WHERE command_id = $2 AND state = $3",
                "SENT" if sent else "QUEUED", command_id, from_state,
            )  # fmt: skip
            if sent:
                await conn.execute(
                    "UPDATE executions SET state = 'SENT', updated_at = $1 WHERE command_id = $2 AND state = 'QUEUED'",
                    time.time(), command_id,
                )  # fmt: skip

    async def requeue_claimed(self) -> int:
        """Claims left by a replica that died mid-publish go back to QUEUED (called by a new lease holder)."""
        return _count(
            await self.pool.execute("UPDATE commands SET state = 'QUEUED' WHERE state = 'DISPATCHING'")
        )

    async def campaign_step_add(self, step: StepRow) -> bool:
        """Record a step before its command is published; False if the key exists (it was already sent, maybe
        by another replica: the primary key decides, atomically)."""
        status = await self.pool.execute(
            """INSERT INTO campaign_steps (step_key, campaign_id, batch_id, kind, stage_idx, attempt, agent_id,
                 command_id, camera_ids, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)
               ON CONFLICT (step_key) DO NOTHING""",
            step.step_key, step.campaign_id, step.batch_id, step.kind, step.stage_idx, step.attempt, step.agent_id,
            step.command_id, json.dumps(step.camera_ids), step.created_at,
        )  # fmt: skip
        return _count(status) > 0

    async def campaign_steps(self, campaign_id: str, batch_id: str | None = None) -> list[StepRow]:
        if batch_id is None:
            rows = await self.pool.fetch(
                "SELECT * FROM campaign_steps WHERE campaign_id = $1 ORDER BY created_at, step_key",
                campaign_id,
            )
        else:
            rows = await self.pool.fetch(
                "SELECT * FROM campaign_steps WHERE campaign_id = $1 AND batch_id = $2 ORDER BY created_at, step_key",
                campaign_id, batch_id,
            )  # fmt: skip
        out = []
        for r in rows:
            d = dict(r)
            d["camera_ids"] = json.loads(d["camera_ids"])
            out.append(StepRow(**d))
        return out

    async def campaign_approval_add(self, a: ApprovalRow) -> bool:
        """False when this person or this key already approved this manifest of the batch (each counts once)."""
        status = await self.pool.execute(
            """INSERT INTO campaign_approvals (campaign_id, batch_id, username, key_id, signature, manifest_digest, at)
               VALUES ($1,$2,$3,$4,$5,$6,$7) ON CONFLICT DO NOTHING""",
            a.campaign_id, a.batch_id, a.username, a.key_id, a.signature, a.manifest_digest, a.at,
        )  # fmt: skip
        return _count(status) > 0

    async def campaign_approvals(self, campaign_id: str, batch_id: str) -> list[ApprovalRow]:
        rows = await self.pool.fetch(
            "SELECT * FROM campaign_approvals WHERE campaign_id = $1 AND batch_id = $2 ORDER BY at",
            campaign_id, batch_id,
        )  # fmt: skip
        out = []
        for r in rows:
            d = dict(r)
            d["signature"] = bytes(d["signature"])
            out.append(ApprovalRow(**d))
        return out

    async def retired_put(self, r: RetiredRow) -> None:
        await self.pool.execute(
            """INSERT INTO retired_cameras (camera_id, lifecycle, fingerprint, serial, macs, retired_at, seen_gone,
                 alerted_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)
               ON CONFLICT (camera_id) DO UPDATE SET lifecycle=excluded.lifecycle, fingerprint=excluded.fingerprint,
                 serial=excluded.serial, macs=excluded.macs, retired_at=excluded.retired_at,
                 seen_gone=excluded.seen_gone, alerted_at=excluded.alerted_at""",
            r.camera_id, r.lifecycle, r.fingerprint, r.serial, json.dumps(r.macs), r.retired_at, int(r.seen_gone),
            r.alerted_at,
        )  # fmt: skip

    async def retired_list(self) -> list[RetiredRow]:
        out = []
        for r in await self.pool.fetch("SELECT * FROM retired_cameras ORDER BY camera_id"):
            d = dict(r)
            d["macs"] = json.loads(d["macs"])
            d["seen_gone"] = bool(d["seen_gone"])
            out.append(RetiredRow(**d))
        return out

    async def cameras_changed_since(self, since: float) -> list[tuple[CameraRow, bool]]:
        """Cameras written (inventoried or marked vanished) at or after `since`, with their vanished flag."""
        rows = await self.pool.fetch(
            "SELECT * FROM cameras WHERE updated_at >= $1 ORDER BY updated_at, camera_id", since
        )
        return [(_camera(r), bool(r["vanished"])) for r in rows]

    @staticmethod
    def _alert(r: asyncpg.Record) -> AlertRow:
        d = dict(r)
        d["details"] = json.loads(d["details"])
        return AlertRow(**d)

    async def alert_add(self, a: AlertRow) -> AlertRow:
        alert_id = await self.pool.fetchval(
            """INSERT INTO alerts (at, kind, camera_id, matched_camera_id, message, details)
               VALUES ($1,$2,$3,$4,$5,$6) RETURNING alert_id""",
            a.at, a.kind, a.camera_id, a.matched_camera_id, a.message, json.dumps(a.details, default=str),
        )  # fmt: skip
        a.alert_id = int(alert_id)
        return a

    async def alerts(self, *, open_only: bool = False, limit: int = 100, offset: int = 0) -> list[AlertRow]:
        where = "WHERE acknowledged_at = 0" if open_only else ""
        rows = await self.pool.fetch(
            f"SELECT * FROM alerts {where} ORDER BY alert_id DESC LIMIT $1 OFFSET $2", limit, offset
        )
        return [self._alert(r) for r in rows]

    async def alert_ack(self, alert_id: int, by: str, at: float) -> bool:
        status = await self.pool.execute(
            "UPDATE alerts SET acknowledged_by = $1, acknowledged_at = $2 WHERE alert_id = $3 AND acknowledged_at = 0",
            by, at, alert_id,
        )  # fmt: skip
        return _count(status) > 0
