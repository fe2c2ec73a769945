"""What differs between SQLite and PostgreSQL, each piece small and named: upserts, id lists, row locks, the
audit chain's lock and the append-only guards. Everything else in the store is portable SQLAlchemy Core."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Integer,
    Select,
    Table,
    Text,
    and_,
    any_,
    bindparam,
    false,
    func,
    select,
    text,
    tuple_,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

# SQLite's default limit is 32,766 bound variables; chunks stay far below it (and below older builds' 999).
SQLITE_CHUNK = 400
# pg_advisory_xact_lock keys: replicas migrate one at a time and append to one audit chain.
MIGRATE_LOCK = 0x63616D66  # "camf"
AUDIT_LOCK = 0x61756469  # "audi"
# The (namespace, key) form of pg_advisory_xact_lock (a key space apart from the single-key locks above): a camera
# identity's serial and MACs, hashed into this many locks. Bounded: every lock a transaction holds takes a slot of
# the server's shared lock table (max_locks_per_transaction x max_connections, 6,400 by default), and the first
# report of a site of 10,000 cameras has 20,000 keys.
IDENTITY_LOCKS = 0x6964656E  # "iden"
IDENTITY_BUCKETS = 256

# Append-only audit: the database itself refuses to edit or delete entries (tampering needs raw access,
# and then the hash chain shows it). Re-armed on every open, so a guard someone dropped comes back.
SQLITE_AUDIT_GUARDS = (
    "CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit "
    "BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit "
    "BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END",
)
PG_AUDIT_GUARDS = (
    """CREATE OR REPLACE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'audit log is append-only' USING ERRCODE = 'insufficient_privilege';
    END $$""",
    "DROP TRIGGER IF EXISTS audit_no_change ON audit",
    "CREATE TRIGGER audit_no_change BEFORE UPDATE OR DELETE ON audit FOR EACH ROW EXECUTE FUNCTION audit_append_only()",
    "DROP TRIGGER IF EXISTS audit_no_truncate ON audit",
    "CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only()",
)


class Dialect:
    """One per store; `pg` says which engine. Methods build statements or run the few engine-specific ones."""

    def __init__(self, name: str) -> None:
        if name not in ("sqlite", "postgresql"):
            raise ValueError(f"unsupported database {name!r}; sqlite or postgresql")
        self.name = name
        self.pg = name == "postgresql"

    def insert(self, table: Table) -> Any:
        """An INSERT with ON CONFLICT support (the two dialects' insert() share that API)."""
        return postgresql.insert(table) if self.pg else sqlite.insert(table)

    def chunks(self, values: Sequence[Any], size: int = SQLITE_CHUNK) -> Iterator[Sequence[Any]]:
        """The id list in pieces a single statement can bind: whole on PostgreSQL (one array parameter). A
        statement binding several values per item asks for smaller pieces."""
        if self.pg:
            if values:
                yield values
            return
        for i in range(0, len(values), size):
            yield values[i : i + size]

    def member_of(self, column: ColumnElement[Any], values: Sequence[str]) -> ColumnElement[bool]:
        """column IN values. PostgreSQL binds one text[] (= ANY), so the statement text, and asyncpg's prepared
        statement, is the same whatever the count; SQLite expands the list (callers chunk it)."""
        if not values:
            return false()
        if self.pg:
            return column == any_(bindparam(None, list(values), type_=ARRAY(Text)))
        if len(values) > SQLITE_CHUNK:
            # One JSON parameter: SQLite binds only so many (a selection of 100,000 ids is allowed).
            each = func.json_each(json.dumps(list(values))).table_valued("value")
            return column.in_(select(each.c.value))
        return column.in_(list(values))

    def pairs_in(
        self, a: ColumnElement[Any], b: ColumnElement[Any], pairs: Sequence[tuple[str, str]]
    ) -> ColumnElement[bool]:
        """(a, b) IN pairs: two parallel arrays unnested on PostgreSQL; on SQLite (chunked) a superset, see below."""
        if not pairs:
            return false()
        if self.pg:
            u = (
                func.unnest(
                    bindparam(None, [p[0] for p in pairs], type_=ARRAY(Text)),
                    bindparam(None, [p[1] for p in pairs], type_=ARRAY(Text)),
                )
                .table_valued("a", "b")
                .render_derived()
            )
            return tuple_(a, b).in_(select(u.c.a, u.c.b))
        # SQLite scans the table for a row-value IN list; two plain IN lists use the (a, b) primary key. The
        # result is a superset (callers look rows up by their pair).
        return and_(
            a.in_(list(dict.fromkeys(p[0] for p in pairs))), b.in_(list(dict.fromkeys(p[1] for p in pairs)))
        )

    def for_update(self, stmt: Select[Any]) -> Select[Any]:
        """Lock the selected rows until commit (replicas race on them). SQLite's write transactions are
        already exclusive (BEGIN IMMEDIATE), so there it changes nothing."""
        return stmt.with_for_update() if self.pg else stmt

    async def lock_audit(self, conn: AsyncConnection) -> None:
        """One chain for all replicas: appends are serialised by a transaction-scoped advisory lock."""
        if self.pg:
            await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": AUDIT_LOCK})

    async def lock_identities(self, conn: AsyncConnection, keys: Sequence[str]) -> None:
        """Hold, until commit, a lock for each identity key (a serial, a MAC) a report is about to give a camera:
        two replicas storing one new device for two agents then take turns, and the second sees the first's
        camera. Keys are hashed into IDENTITY_BUCKETS locks (two keys in one only make two reports take turns)
        taken in one statement in sorted order, so two reports never wait for each other both ways. Only new
        identities are locked, so steady reports never wait here. SQLite's write transactions are already one at
        a time (BEGIN IMMEDIATE), so there it does nothing."""
        if not self.pg or not keys:
            return
        hashed = sorted({int.from_bytes(hashlib.blake2b(k.encode(), digest_size=4).digest()) % IDENTITY_BUCKETS
                         for k in keys})  # fmt: skip
        # unnest yields the array in order, and each row's lock is taken as the row is produced.
        stmt = text("SELECT pg_advisory_xact_lock(:ns, k) FROM unnest(:keys) AS k").bindparams(
            bindparam("keys", type_=ARRAY(Integer))
        )
        (await conn.execute(stmt, {"ns": IDENTITY_LOCKS, "keys": hashed})).all()

    async def lock_migrations(self, conn: AsyncConnection) -> None:
        """Two replicas starting together: the second waits here, then finds the schema up to date."""
        if self.pg:
            await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATE_LOCK})

    async def arm_audit_guards(self, conn: AsyncConnection) -> None:
        for sql in PG_AUDIT_GUARDS if self.pg else SQLITE_AUDIT_GUARDS:
            await conn.exec_driver_sql(sql)
