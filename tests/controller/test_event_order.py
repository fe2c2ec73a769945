"""Agent events follow the rule every report does: a growing sequence number. Over real Mosquitto (mTLS, the
per-agent ACL) into the real hub: a replayed or older event is quarantined with its reason, not audited again."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import aiomqtt
import pytest

from controller.hub import Hub, HubSettings
from controller.store import Store
from devstack.broker import running_broker
from protos import topics
from protos.camfleet.v1 import camfleet_pb2 as pb
from tests.timing import scaled, until_async

pytestmark = pytest.mark.integration


def event(seq: int, message: str) -> bytes:
    ev = pb.Event(agent_id="site-a", kind=pb.EVENT_KIND_LOCKOUT_RISK, message=message, seq=seq)
    ev.details["camera"] = "10.0.0.9"
    return ev.SerializeToString()


async def audited(store: Store) -> list[str]:
    return [e.details["message"] for e in await store.audit_entries() if e.action == "agent.event"]


async def test_a_replayed_or_older_event_is_quarantined_not_applied_again(tmp_path: Path) -> None:
    store = Store(tmp_path / "fleet.db")
    await store.open()
    with running_broker(("site-a",)) as b:
        hub = Hub(store, HubSettings(b.host, b.port, b.tls_context("controller"), client_id="ctl-events"), [])
        task = asyncio.create_task(hub.run())
        try:
            await asyncio.wait_for(hub.connected.wait(), scaled(30))
            async with aiomqtt.Client(b.host, b.port, identifier="site-a-events", timeout=15,
                                      tls_context=b.tls_context("site-a")) as agent:  # fmt: skip
                for payload in (event(5, "first"), event(5, "first"), event(3, "older"), event(6, "next")):
                    await agent.publish(topics.agent_topic("site-a", "events"), payload, qos=1)

            async def settled() -> bool:  # one hub, one topic: "next" is applied after the three before it
                return "next" in await audited(store)

            await until_async(settled, 30, "the last event to be audited")
            assert await audited(store) == ["first", "next"]
            q = sorted(await store.quarantine_list(), key=lambda m: m.id)  # in arrival order
            assert [(m.agent_id, m.kind, m.payload) for m in q] == [
                ("site-a", "events", event(5, "first")), ("site-a", "events", event(3, "older"))]  # fmt: skip
            assert "event seq 5 is not newer than the last applied from this agent (5)" in q[0].reason
            assert "event seq 3 is not newer than the last applied from this agent (5)" in q[1].reason
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await store.close()
