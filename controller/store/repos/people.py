"""People: dashboard users with their roles and approver keys, API tokens and dashboard sessions (hashed)."""

from __future__ import annotations

import secrets
import time
from typing import Any

from sqlalchemy import delete, func, insert, or_, select, update

from controller.store import schema
from controller.store.base import UserRow
from controller.store.repos._base import Repo

U = schema.users
T = schema.api_tokens
DS = schema.dashboard_sessions
CS = schema.controller_secrets


class PeopleRepo(Repo):
    async def put_user(self, user: UserRow) -> None:
        ins = self.d.insert(U).values(username=user.username, password_hash=user.password_hash, role=user.role,
                                      approver_key=user.approver_key, created=user.created or time.time())  # fmt: skip
        await self.conn.execute(
            ins.on_conflict_do_update(
                index_elements=[U.c.username],
                set_={k: ins.excluded[k] for k in ("password_hash", "role", "approver_key")},
            )
        )

    async def get_user(self, username: str) -> UserRow | None:
        d = await self.one(select(U).where(U.c.username == username))
        return UserRow(**d) if d is not None else None

    async def list_users(self) -> list[UserRow]:
        return [UserRow(**d) for d in await self.rows(select(U).order_by(U.c.username))]

    async def add_token(self, token_hash: str, username: str, name: str) -> None:
        await self.conn.execute(
            insert(T).values(token_hash=token_hash, username=username, name=name, created=time.time())
        )

    async def user_for_token(self, token_hash: str) -> UserRow | None:
        q = (
            select(U)
            .join(T, T.c.username == U.c.username)
            .where(T.c.token_hash == token_hash, T.c.revoked == 0)
        )
        d = await self.one(q)
        return UserRow(**d) if d is not None else None

    async def secret(self, name: str, size: int = 32) -> bytes:
        """The random key `name`, created by whichever replica asks first; every later ask, on any replica and
        after any restart, gets that same key (a racing second insert does nothing)."""
        await self.conn.execute(
            self.d.insert(CS)
            .values(name=name, value=secrets.token_bytes(size), created=time.time())
            .on_conflict_do_nothing(index_elements=[CS.c.name])
        )
        value = (await self.conn.execute(select(CS.c.value).where(CS.c.name == name))).scalar_one()
        return bytes(value)

    # ---- dashboard sessions ----------------------------------------------------------------------------
    async def session_add(self, sid_hash: str, csrf: str, username: str, now: float) -> None:
        await self.conn.execute(
            insert(DS).values(sid_hash=sid_hash, csrf=csrf, username=username, created=now, seen=now)
        )

    async def session_get(self, sid_hash: str) -> dict[str, Any] | None:
        return await self.one(select(DS).where(DS.c.sid_hash == sid_hash))

    async def session_touch(self, sid_hash: str, now: float) -> None:
        await self.conn.execute(update(DS).where(DS.c.sid_hash == sid_hash).values(seen=now))

    async def session_drop(self, sid_hash: str) -> None:
        await self.conn.execute(delete(DS).where(DS.c.sid_hash == sid_hash))

    async def sessions_expire(self, seen_before: float, created_before: float) -> int:
        return await self.run(delete(DS).where(or_(DS.c.seen < seen_before, DS.c.created < created_before)))

    async def sessions_trim(self, limit: int) -> int:
        """Keep at most `limit` sessions: anonymous ones (login forms) go first, oldest first."""
        total = int((await self.conn.execute(select(func.count()).select_from(DS))).scalar_one())
        if total < limit:
            return 0
        victims = (
            select(DS.c.sid_hash).order_by((DS.c.username != "").asc(), DS.c.seen).limit(total - limit + 1)
        )
        return await self.run(delete(DS).where(DS.c.sid_hash.in_(victims.scalar_subquery())))
