"""People: dashboard users with their roles and approver keys, and API tokens (stored hashed)."""

from __future__ import annotations

import time

from sqlalchemy import insert, select, update

from controller.store import schema
from controller.store.base import UserRow
from controller.store.repos._base import Repo

U = schema.users
T = schema.api_tokens


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

    async def revoke_token(self, token_hash: str) -> bool:
        return await self.run(update(T).where(T.c.token_hash == token_hash).values(revoked=1)) > 0
