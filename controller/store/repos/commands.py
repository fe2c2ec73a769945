"""Commands and their executions: creation, monotonic updates from agents, roll-up, expiry, dispatch claims."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import bindparam, case, func, insert, or_, select, update

from controller.states import EXEC_NOT_STARTED
from controller.store import schema
from controller.store.base import FINAL_STATES, CommandRow, ExecutionRow, update_accepted
from controller.store.repos._base import Repo

K = schema.commands
E = schema.executions
FINAL = sorted(FINAL_STATES)
NOT_STARTED = EXEC_NOT_STARTED


def command(d: dict[str, Any]) -> CommandRow:
    d["params"] = json.loads(d["params"])
    d["dry_run"] = bool(d["dry_run"])
    d["envelope"] = bytes(d["envelope"])
    return CommandRow(**d)


def execution(d: dict[str, Any]) -> ExecutionRow:
    d["settings"] = json.loads(d["settings"])
    d["snapshot"] = json.loads(d["snapshot"])
    return ExecutionRow(**d)


_SET_EXEC = (
    update(E)
    .where(E.c.command_id == bindparam("k_command"), E.c.camera_id == bindparam("k_camera"))
    .values(state=bindparam("v_state"), settings=bindparam("v_settings"), snapshot=bindparam("v_snapshot"),
            snapshot_id=bindparam("v_snapshot_id"), error_class=bindparam("v_error_class"),
            message=bindparam("v_message"), seq=bindparam("v_seq"), updated_at=bindparam("v_at"),
            goal=bindparam("v_goal"))
)  # fmt: skip


class CommandRepo(Repo):
    async def create(
        self,
        cmd: CommandRow,
        camera_ids: Sequence[str],
        targets: Mapping[str, str] | None = None,
        refused: Mapping[str, str] | None = None,
    ) -> None:
        """The command and one execution per camera. `targets`: camera id -> the name the signed command gives
        it (default: the id itself); `refused`: camera id -> why it is not in the command at all (its execution
        starts REJECTED)."""
        targets, refused = targets or {}, refused or {}
        await self.conn.execute(
            insert(K).values(
                command_id=cmd.command_id, agent_id=cmd.agent_id, action=cmd.action, params=json.dumps(cmd.params),
                dry_run=int(cmd.dry_run), created_at=cmd.created_at, not_after=cmd.not_after,
                created_by=cmd.created_by, campaign_id=cmd.campaign_id, batch_id=cmd.batch_id, state=cmd.state,
                envelope=cmd.envelope,
            )
        )  # fmt: skip
        if camera_ids:
            await self.conn.execute(
                insert(E),
                [{"command_id": cmd.command_id, "camera_id": c, "agent_id": cmd.agent_id,
                  "state": "REJECTED" if c in refused else "QUEUED", "message": refused.get(c, ""),
                  "error_class": "rejected" if c in refused else "", "target": targets.get(c, c),
                  "updated_at": cmd.created_at} for c in camera_ids],
            )  # fmt: skip

    async def set_state(self, command_id: str, state: str, envelope: bytes | None = None) -> None:
        values: dict[str, Any] = (
            {"state": state} if envelope is None else {"state": state, "envelope": envelope}
        )
        await self.conn.execute(update(K).where(K.c.command_id == command_id).values(**values))
        if state == "SENT":
            await self._executions_sent(command_id)

    async def _executions_sent(self, command_id: str) -> None:
        await self.conn.execute(
            update(E)
            .where(E.c.command_id == command_id, E.c.state == "QUEUED")
            .values(state="SENT", updated_at=time.time())
        )

    async def get(self, command_id: str) -> CommandRow | None:
        d = await self.one(select(K).where(K.c.command_id == command_id))
        return command(d) if d is not None else None

    async def recent(self, limit: int = 50, offset: int = 0) -> list[CommandRow]:
        q = select(K).order_by(K.c.created_at.desc()).limit(limit).offset(offset)
        return [command(d) for d in await self.rows(q)]

    async def in_state(self, state: str, now: float) -> list[CommandRow]:
        q = select(K).where(K.c.state == state, K.c.not_after > now).order_by(K.c.created_at)
        return [command(d) for d in await self.rows(q)]

    async def executions(self, command_id: str) -> list[ExecutionRow]:
        q = select(E).where(E.c.command_id == command_id).order_by(E.c.camera_id)
        return [execution(d) for d in await self.rows(q)]

    async def executions_of(self, command_ids: Sequence[str]) -> dict[str, list[ExecutionRow]]:
        """Executions of many commands in one query per chunk, by command (ordered by camera)."""
        out: dict[str, list[ExecutionRow]] = {c: [] for c in command_ids}
        for part in self.d.chunks(list(dict.fromkeys(command_ids))):
            q = (
                select(E)
                .where(self.d.member_of(E.c.command_id, part))
                .order_by(E.c.command_id, E.c.camera_id)
            )
            for d in await self.rows(q):
                out[d["command_id"]].append(execution(d))
        return out

    async def lock(self, command_ids: Sequence[str]) -> None:
        """Every change to a command's executions first locks the command row (in id order: no deadlocks), so
        the roll-up of two replicas updating sibling executions sees both updates and none is lost."""
        if self.d.pg and command_ids:
            ids = sorted(set(command_ids))
            await self.conn.execute(
                select(K.c.command_id)
                .where(self.d.member_of(K.c.command_id, ids))
                .order_by(K.c.command_id)
                .with_for_update()
            )

    async def apply_updates(self, rows: Sequence[ExecutionRow]) -> list[bool]:
        """Apply execution updates in order: the current states read at once, the per-row rule
        (base.update_accepted) run against a running copy so a duplicate or stale row later in the batch is
        judged as if applied one by one, the accepted rows written with one executemany, each command rolled
        up once. A final state is written once, so a redelivered update is never counted twice."""
        if not rows:
            return []
        # An agent names the camera as its command did (the execution's target); the execution is keyed by the
        # camera's id, which each accepted row gets back in camera_id.
        keys = list(dict.fromkeys((r.command_id, r.camera_id) for r in rows))
        await self.lock([k[0] for k in keys])
        current: dict[tuple[str, str], tuple[str, int, str]] = {}
        camera_of: dict[tuple[str, str], str] = {}
        for part in self.d.chunks(keys):
            q = select(E.c.command_id, E.c.target, E.c.state, E.c.seq, E.c.agent_id, E.c.camera_id).where(
                self.d.pairs_in(E.c.command_id, E.c.target, part)
            )
            for r in (await self.conn.execute(q)).all():
                current[(str(r[0]), str(r[1]))] = (str(r[2]), int(r[3]), str(r[4]))
                camera_of[(str(r[0]), str(r[1]))] = str(r[5])
        out: list[bool] = []
        writes: list[dict[str, Any]] = []
        for upd in rows:
            key = (upd.command_id, upd.camera_id)
            old = current.get(key)
            if old is None or not update_accepted(old[0], old[1], upd, old[2]):
                out.append(False)
                continue
            upd.target, upd.camera_id = upd.camera_id, camera_of[key]
            seq = max(upd.seq, old[1])
            current[key] = (upd.state, seq, old[2])
            writes.append({"k_command": upd.command_id, "k_camera": upd.camera_id, "v_state": upd.state,
                           "v_settings": json.dumps(upd.settings), "v_snapshot": json.dumps(upd.snapshot),
                           "v_snapshot_id": upd.snapshot_id, "v_error_class": upd.error_class,
                           "v_message": upd.message, "v_seq": seq, "v_at": time.time(), "v_goal": upd.goal})  # fmt: skip
            out.append(True)
        if writes:
            await self.conn.execute(_SET_EXEC, writes)
            await self.roll_up(list(dict.fromkeys(w["k_command"] for w in writes)))
        return out

    async def roll_up(self, command_ids: Sequence[str]) -> None:
        """The command's state follows its executions: all final -> SUCCEEDED / CANCELED /
        COMPLETED_WITH_FAILURES; any started -> IN_PROGRESS. Counted in SQL, one query per chunk."""
        done: list[dict[str, str]] = []
        started: list[dict[str, str]] = []

        def n(cond: Any) -> Any:
            return func.sum(case((cond, 1), else_=0))

        for part in self.d.chunks(list(command_ids)):
            q = (
                select(E.c.command_id, func.count(), n(E.c.state.in_(FINAL)), n(E.c.state == "SUCCEEDED"),
                       n(E.c.state == "CANCELED"), n(E.c.state.not_in(NOT_STARTED)))
                .where(self.d.member_of(E.c.command_id, part))
                .group_by(E.c.command_id)
            )  # fmt: skip
            for cid, total, final, ok, canceled, begun in (await self.conn.execute(q)).all():
                if total and final == total:
                    state = (
                        "CANCELED"
                        if canceled == total
                        else "SUCCEEDED"
                        if ok == total
                        else "COMPLETED_WITH_FAILURES"
                    )
                    done.append({"k": cid, "s": state})
                elif begun:
                    started.append({"k": cid})
        if done:
            await self.conn.execute(
                update(K).where(K.c.command_id == bindparam("k")).values(state=bindparam("s")), done
            )
        if started:
            await self.conn.execute(
                # (an executemany cannot expand IN lists: the two states spelled out)
                update(K)
                .where(K.c.command_id == bindparam("k"), or_(*(K.c.state == s for s in NOT_STARTED)))
                .values(state="IN_PROGRESS"),
                started,
            )

    async def expire(self, now: float) -> list[ExecutionRow]:
        """Executions whose command expired without a final state become TIMED_OUT (once)."""
        q = (
            select(K.c.command_id).distinct().join(E, E.c.command_id == K.c.command_id)
            .where(K.c.not_after < now, E.c.state.not_in(FINAL))
        )  # fmt: skip
        expired = sorted(str(r[0]) for r in (await self.conn.execute(q)).all())
        if not expired:
            return []
        await self.lock(expired)
        out: list[ExecutionRow] = []
        for part in self.d.chunks(expired):
            sel = select(E).where(self.d.member_of(E.c.command_id, part), E.c.state.not_in(FINAL))
            out += [execution(d) for d in await self.rows(sel)]
            await self.conn.execute(
                update(E).where(self.d.member_of(E.c.command_id, part), E.c.state.not_in(FINAL))
                .values(state="TIMED_OUT", message="no final result before the command expired",
                        error_class="timeout", updated_at=now)
            )  # fmt: skip
        for r in out:
            r.state, r.message, r.error_class, r.updated_at = (
                "TIMED_OUT", "no final result before the command expired", "timeout", now,
            )  # fmt: skip
        await self.roll_up(expired)
        out.sort(key=lambda e: (e.command_id, e.camera_id))
        return out

    async def reject_pending(self, command_id: str, agent_id: str, message: str) -> int:
        """The agent refused the whole command: executions not yet started become REJECTED."""
        await self.lock([command_id])
        n = await self.run(
            update(E).where(E.c.command_id == command_id, E.c.agent_id == agent_id, E.c.state.in_(NOT_STARTED))
            .values(state="REJECTED", message=message, error_class="rejected", updated_at=time.time())
        )  # fmt: skip
        await self.roll_up([command_id])
        return n

    async def cancel(self, command_id: str) -> int:
        await self.lock([command_id])
        n = await self.run(
            update(E).where(E.c.command_id == command_id, E.c.state.in_(NOT_STARTED))
            .values(state="CANCELED", updated_at=time.time())
        )  # fmt: skip
        await self.roll_up([command_id])
        return n

    # ---- dispatch: who publishes a command, exactly once across replicas ----------------------------------
    async def claim(self, command_id: str) -> bool:
        """QUEUED -> DISPATCHING in one conditional statement: of several replicas, exactly one wins."""
        stmt = (
            update(K).where(K.c.command_id == command_id, K.c.state == "QUEUED").values(state="DISPATCHING")
        )
        return await self.run(stmt) > 0

    async def published(self, command_id: str, from_state: str, sent: bool) -> None:
        """from_state -> SENT (executions QUEUED -> SENT) or back to QUEUED. Conditional on from_state, so a
        roll-up of results that beat the broker's PUBACK is never overwritten; executions follow on SENT even
        when the command had already left from_state."""
        await self.lock([command_id])
        await self.conn.execute(
            update(K)
            .where(K.c.command_id == command_id, K.c.state == from_state)
            .values(state="SENT" if sent else "QUEUED")
        )
        if sent:
            await self._executions_sent(command_id)

    async def requeue_claimed(self) -> int:
        """Claims left by a replica that died mid-publish go back to QUEUED (called by a new lease holder)."""
        return await self.run(update(K).where(K.c.state == "DISPATCHING").values(state="QUEUED"))

    async def requeue_pending(self, created_before: float, *, campaigns_now: bool = False) -> int:
        """PENDING commands older than `created_before` (their creator died before publishing), and with
        `campaigns_now` every campaign command, -> QUEUED."""
        old = K.c.created_at < created_before
        which = or_(old, K.c.campaign_id != "") if campaigns_now else old
        return await self.run(update(K).where(K.c.state == "PENDING", which).values(state="QUEUED"))

    async def existing(self, command_ids: Sequence[str]) -> set[str]:
        out: set[str] = set()
        for part in self.d.chunks(list(dict.fromkeys(command_ids))):
            q = select(K.c.command_id).where(self.d.member_of(K.c.command_id, part))
            out |= {str(r[0]) for r in (await self.conn.execute(q)).all()}
        return out
