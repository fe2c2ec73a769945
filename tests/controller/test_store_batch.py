"""Batched ingest on SQLite and PostgreSQL: apply_updates and append_audit_many agree with one-at-a-time calls."""

from __future__ import annotations

import dataclasses
import itertools
import random
import time
from typing import Any

from controller.store import Store
from controller.store.base import FINAL_STATES, CommandRow, ExecutionRow

CAMS = ["cam-001", "cam-002", "cam-003"]


async def two_commands(store: Store, tag: str) -> tuple[str, str]:
    """The same command twice (same agent, same cameras): one gets updates one by one, the other in a batch."""
    ids = (f"{tag}-one", f"{tag}-batch")
    for cid in ids:
        row = CommandRow(cid, "site-a", "disable_cloud", {}, False, time.time(), time.time() + 60, "alice")
        await store.create_command(row, CAMS)
        await store.set_command_state(cid, "SENT")
    return ids


def for_command(rows: list[ExecutionRow], cid: str) -> list[ExecutionRow]:
    return [dataclasses.replace(r, command_id=cid) for r in rows]


async def outcome(store: Store, cid: str) -> tuple[Any, ...]:
    cmd = await store.get_command(cid)
    assert cmd is not None
    ex = [
        (e.camera_id, e.agent_id, e.state, e.seq, e.settings, e.message) for e in await store.executions(cid)
    ]
    return cmd.state, ex


async def compare(store: Store, tag: str, rows: list[ExecutionRow]) -> list[bool]:
    one, batch = await two_commands(store, tag)
    sequential = [await store.apply_update(r) for r in for_command(rows, one)]
    batched = await store.apply_updates(for_command(rows, batch))
    assert batched == sequential
    assert await outcome(store, batch) == await outcome(store, one)
    return batched


def upd(cam: str, state: str, seq: int, agent: str = "site-a", msg: str = "") -> ExecutionRow:
    return ExecutionRow(
        "?", cam, agent, state, settings=[{"setting": "ezviz", "outcome": msg}], seq=seq, message=msg
    )


async def test_batch_duplicates_reordering_and_final_once(store: Store) -> None:
    rows = [
        upd("cam-001", "IN_PROGRESS", 2),
        upd("cam-001", "ACCEPTED", 1),  # late, older seq
        upd("cam-001", "SUCCEEDED", 3, msg="first"),
        upd("cam-001", "SUCCEEDED", 3, msg="first"),  # redelivered in the same batch
        upd("cam-001", "FAILED", 9, msg="second final"),  # a second final state is never written
        upd("cam-002", "IN_PROGRESS", 0),  # seq 0: judged by state order only
        upd("cam-002", "ACCEPTED", 0),  # goes back: refused
        upd("cam-003", "ACCEPTED", 5),
        upd("cam-003", "IN_PROGRESS", 5),  # same seq: a duplicate
        upd("cam-404", "SUCCEEDED", 1),  # no such execution
    ]
    got = await compare(store, "dup", rows)
    assert got == [True, False, True, False, False, True, False, True, False, False]
    cmd = await store.get_command("dup-batch")
    assert cmd is not None and cmd.state == "IN_PROGRESS"


async def test_batch_rolls_up_once_to_the_final_command_state(store: Store) -> None:
    rows = [upd(c, "IN_PROGRESS", 1) for c in CAMS] + [upd(c, "SUCCEEDED", 2) for c in CAMS]
    assert await compare(store, "fin", rows) == [True] * 6
    cmd = await store.get_command("fin-batch")
    assert cmd is not None and cmd.state == "SUCCEEDED"
    # A second batch after the command finished changes nothing.
    assert await store.apply_updates(for_command([upd("cam-001", "FAILED", 7)], "fin-batch")) == [False]
    assert await store.apply_updates([]) == []


async def test_batch_foreign_agent_rows_judged_like_apply_update(store: Store) -> None:
    # apply_update does not compare the update's agent with the execution's (the hub takes the agent from the
    # broker-enforced topic); the batch must give exactly the same answers and leave the same rows.
    rows = [upd("cam-001", "IN_PROGRESS", 1, agent="site-b"), upd("cam-002", "FAILED", 1, agent="site-b")]
    await compare(store, "foreign", rows)


async def test_batch_equals_sequential_on_random_streams(store: Store) -> None:
    rnd = random.Random(20261129)
    states = ["ACCEPTED", "IN_PROGRESS", *sorted(FINAL_STATES)]
    for round_ in range(6):
        rows = [upd(rnd.choice([*CAMS, "cam-404"]), rnd.choice(states), rnd.randint(0, 6),
                    agent=rnd.choice(["site-a", "site-a", "site-b"]), msg=str(i)) for i in range(30)]  # fmt: skip
        await compare(store, f"rnd{round_}", rows)


async def test_append_audit_many_continues_one_chain(store: Store) -> None:
    await store.append_audit("alice", "x", "0", {"n": 0})
    got = await store.append_audit_many(
        [("agent:site-a", "execution.final", f"c/{i}", {"n": i}) for i in range(1, 6)]
    )
    assert [e.seq for e in got] == [2, 3, 4, 5, 6]
    assert got[0].prev_hash == (await store.audit_entries())[0].hash
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(got))
    last = await store.append_audit("bob", "y", "7", {})
    assert last.seq == 7 and last.prev_hash == got[-1].hash
    assert await store.append_audit_many([]) == []
    report = await store.verify_audit()
    assert report.ok and report.entries == 7
    stored = await store.audit_entries()
    assert [(e.actor, e.subject, e.details) for e in stored[1:6]] == [
        ("agent:site-a", f"c/{i}", {"n": i}) for i in range(1, 6)
    ]
