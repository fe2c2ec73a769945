"""The hub's batched ingest (handle_many) leaves the store, the audit log and the notifications exactly as
handling the same messages one at a time does."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

from controller.hub import Hub, HubSettings
from controller.store import Store
from controller.store.base import CommandRow
from protos import topics
from protos.camfleet.v1 import camfleet_pb2 as pb
from tests.timing import until


def result(
    agent: str, cid: str, cam: str, state: pb.ExecutionState, seq: int, changed: bool = False
) -> tuple[str, bytes]:
    upd = pb.ExecutionUpdate(command_id=cid, camera_id=cam, state=state, seq=seq, message=f"{cam}@{seq}")
    upd.agent_id = "someone-else"  # the topic names the sender; the hub must overwrite the body's claim
    if changed:
        upd.settings.add(setting="ezviz", outcome=pb.OUTCOME_CHANGED)
    upd.at.GetCurrentTime()
    return topics.agent_topic(agent, "result"), upd.SerializeToString()


def stream() -> list[tuple[str, bytes]]:
    ok, run, acc = pb.EXECUTION_STATE_SUCCEEDED, pb.EXECUTION_STATE_IN_PROGRESS, pb.EXECUTION_STATE_ACCEPTED
    reject = pb.ExecutionUpdate(
        command_id="c-b", state=pb.EXECUTION_STATE_REJECTED, rejection_reason="policy", seq=3
    )
    status = pb.AgentStatus(agent_id="site-a", version="1", boot_seq=1, online=True)
    event = pb.Event(camera_id="cam-a1", message="reboot seen", seq=3)
    return [
        (topics.agent_topic("site-a", "status"), status.SerializeToString()),
        result("site-a", "c-a", "cam-a1", run, 1),
        result("site-b", "c-b", "cam-b1", acc, 1),
        result("site-a", "c-a", "cam-a1", ok, 2, changed=True),
        result("site-a", "c-a", "cam-a1", ok, 2, changed=True),  # redelivered
        (topics.agent_topic("site-a", "events"), event.SerializeToString()),
        result("site-a", "c-a", "cam-a1", pb.EXECUTION_STATE_FAILED, 3),  # after final: ignored
        (topics.agent_topic("site-b", "result"), b"\xff\xff not protobuf"),
        result("site-b", "c-b", "cam-b1", run, 2),
        (topics.agent_topic("site-b", "result"), reject.SerializeToString()),  # cam-b2 still SENT -> REJECTED
        result("site-b", "c-b", "cam-b2", ok, 1),  # after the rejection: refused (final once)
        ("not/a/camfleet/topic", b""),
        result("site-a", "c-a", "cam-a2", ok, 1),
        result("site-b", "c-b", "cam-b1", ok, 3),
    ]


async def hub_over(path: Path) -> tuple[Hub, Store, list[tuple[str, dict[str, Any]]]]:
    store = Store(path)
    await store.open()
    for cid, agent, cams in (
        ("c-a", "site-a", ["cam-a1", "cam-a2"]),
        ("c-b", "site-b", ["cam-b1", "cam-b2"]),
    ):
        row = CommandRow(cid, agent, "disable_cloud", {}, False, time.time(), time.time() + 60, "alice")
        await store.create_command(row, cams)
        await store.set_command_state(cid, "SENT")
    hub = Hub(store, HubSettings(), [])
    seen: list[tuple[str, dict[str, Any]]] = []
    hub.listeners.append(lambda kind, data: seen.append((kind, data)))
    return hub, store, seen


async def snapshot(store: Store) -> tuple[Any, ...]:
    ex = [(e.command_id, e.camera_id, e.agent_id, e.state, e.seq, e.message) for c in ("c-a", "c-b")
          for e in await store.executions(c)]  # fmt: skip
    cmds = [(c, (await store.get_command(c)) or None) for c in ("c-a", "c-b")]
    audit = [(e.actor, e.action, e.subject, e.details) for e in await store.audit_entries()]
    agents = [(a.agent_id, a.online) for a in await store.list_agents()]
    return ex, [(c, r.state if r else None) for c, r in cmds], audit, agents


async def test_handle_many_equals_one_at_a_time(tmp_path: Path) -> None:
    one, one_store, one_seen = await hub_over(tmp_path / "one.db")
    many, many_store, many_seen = await hub_over(tmp_path / "many.db")
    try:
        for topic, payload in stream():
            await one.handle(topic, payload)
        await many.handle_many(stream())
        got = await snapshot(many_store)
        assert got == await snapshot(one_store)
        assert many_seen == one_seen
        ex, cmds, audit, agents = got
        states = {(c, cam): st for c, cam, _, st, _, _ in ex}
        assert states == {("c-a", "cam-a1"): "SUCCEEDED", ("c-a", "cam-a2"): "SUCCEEDED",
                          ("c-b", "cam-b1"): "SUCCEEDED", ("c-b", "cam-b2"): "REJECTED"}  # fmt: skip
        assert cmds == [("c-a", "SUCCEEDED"), ("c-b", "COMPLETED_WITH_FAILURES")]
        assert [a[1] for a in audit] == [
            "execution.final", "agent.event", "command.rejected", "execution.final", "execution.final",
        ]  # fmt: skip
        assert audit[0][0] == "agent:site-a" and audit[0][3]["changed"] == ["ezviz"]
        assert agents == [("site-a", True)]
        assert [d.get("state") for k, d in many_seen if k == "execution"] == [
            "IN_PROGRESS", "ACCEPTED", "SUCCEEDED", "IN_PROGRESS", "REJECTED", "SUCCEEDED", "SUCCEEDED",
        ]  # fmt: skip
        assert (await many_store.verify_audit()).ok
    finally:
        await one_store.close()
        await many_store.close()


async def test_expiry_is_audited_once(tmp_path: Path) -> None:
    store = Store(tmp_path / "exp.db")
    await store.open()
    try:
        row = CommandRow("c-x", "site-a", "reboot", {}, False, time.time() - 120, time.time() - 1, "alice")
        await store.create_command(row, ["cam-1", "cam-2"])
        rounds = 0

        def leader() -> bool:  # asked once per expiry round (expiry and its audit are one transaction)
            nonlocal rounds
            rounds += 1
            return True

        hub = Hub(store, HubSettings(), [])
        hub.leader = leader
        task = asyncio.create_task(hub._expirer())
        await until(lambda: rounds >= 3, 30, "three expiry rounds")  # the later rounds must find nothing new
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        finals = [e for e in await store.audit_entries() if e.action == "execution.final"]
        assert sorted(e.subject for e in finals) == ["c-x/cam-1", "c-x/cam-2"]
        assert {e.details["state"] for e in finals} == {"TIMED_OUT"}
        assert (await store.verify_audit()).ok
    finally:
        await store.close()
