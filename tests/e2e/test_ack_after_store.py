"""A controller killed (SIGKILL) between receiving an agent's message and storing it loses nothing: the hub
acknowledges a QoS 1 message only once it is stored, so the broker delivers it again to the next controller."""

from __future__ import annotations

import asyncio
import sqlite3
import ssl
import uuid
from collections.abc import Iterator

import aiohttp
import aiomqtt
import pytest

from devstack.stack import BIN, Stack, wait_until
from protos import topics
from protos.camfleet.v1 import camfleet_pb2 as pb

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def stack() -> Iterator[Stack]:
    s = Stack(cameras=0, sites=("probe",))
    (s.root / "logs").mkdir(parents=True, exist_ok=True)
    try:
        s.setup_pki()
        s.start_mosquitto()
        s.start_controller()
        asyncio.run(s.wait_http(f"{s.url}/readyz", 60, "controller"))
        yield s
    finally:
        s.cleanup()


async def received(s: Stack, kind: str) -> float:
    async with aiohttp.ClientSession() as c, c.get(f"{s.url}/metrics") as r:
        for line in (await r.text()).splitlines():
            if line.startswith(f'camfleet_mqtt_messages_total{{kind="{kind}"}}'):
                return float(line.split()[-1])
    return 0.0


def test_a_result_received_but_not_stored_is_delivered_again(stack: Stack) -> None:
    async def go() -> None:
        db = sqlite3.connect(
            stack.root / "controller" / "state" / "fleet.db", isolation_level=None, timeout=30
        )
        db.execute("BEGIN IMMEDIATE")  # the database stalls: the hub's write waits for this lock
        rep = pb.InventoryReport(agent_id="agent-probe", seq=1)
        rep.cameras.add(camera_id="probe-1", host="10.0.0.9", port=80, site="probe").identity.model = "P1"
        pki = stack.root / "pki"
        ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        ctx.load_cert_chain(pki / "agents" / "agent-probe.crt", pki / "agents" / "agent-probe.key")
        async with aiomqtt.Client(
            "127.0.0.1", stack.mqtt_port, tls_context=ctx, identifier=f"p-{uuid.uuid4()}"
        ) as c:
            await c.publish(topics.agent_topic("agent-probe", "inventory"), rep.SerializeToString(), qos=1)

        async def got() -> bool:
            return await received(stack, "inventory") >= 1

        assert await wait_until(got, 30), "the controller never received the report"
        stack.procs["controller"].kill()  # received, not stored: killed right there
        db.execute("ROLLBACK")
        db.close()
        cfg = stack.root / "controller" / "controller.toml"
        stack._proc("controller", str(BIN / "camfleet-controller"), "serve", "--config", str(cfg))

        async def stored() -> bool:
            try:
                doc = await stack.api("GET", "/api/v1/cameras/probe-1")
            except aiohttp.ClientError:
                return False
            return isinstance(doc, dict) and doc.get("model") == "P1"

        assert await wait_until(stored, 60), "the report was lost: acknowledged before it was stored"

    asyncio.run(go())
