"""Mosquitto with the generated configuration: mTLS, the per-agent ACL and the CRL, tested with aiomqtt."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Iterator

import aiomqtt
import pytest

from devstack.broker import Broker, running_broker
from protos import topics
from tests.timing import until_async

pytestmark = pytest.mark.integration


@pytest.fixture
def broker() -> Iterator[Broker]:
    with running_broker(("site-a", "site-b", "site-c")) as b:
        yield b


def client(b: Broker, name: str, **kw: object) -> aiomqtt.Client:
    return aiomqtt.Client(
        b.host,
        b.port,
        identifier=f"{name}-{id(kw)}",
        tls_context=b.tls_context(name),
        timeout=5,
        **kw,  # type: ignore[arg-type]
    )


async def receive(c: aiomqtt.Client, seconds: float) -> list[aiomqtt.Message]:
    got: list[aiomqtt.Message] = []

    async def loop() -> None:
        async for m in c.messages:
            got.append(m)

    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(loop(), seconds)
    return got


async def test_agent_writes_own_subtree_and_controller_reads_it(broker: Broker) -> None:
    async with client(broker, "controller") as ctl, client(broker, "site-a") as a:
        await ctl.subscribe(topics.all_agents("result"), qos=1)
        await a.publish(topics.agent_topic("site-a", "result"), b"mine", qos=1)
        msgs = await receive(ctl, 1.0)
    assert [(str(m.topic), m.payload) for m in msgs] == [(topics.agent_topic("site-a", "result"), b"mine")]


async def test_agent_cannot_publish_into_another_agents_subtree(broker: Broker) -> None:
    async with client(broker, "controller") as ctl, client(broker, "site-a") as a:
        await ctl.subscribe(topics.all_agents("result"), qos=1)
        await a.publish(topics.agent_topic("site-b", "result"), b"forged", qos=1)
        await a.publish(topics.agent_topic("site-b", "cmd"), b"forged", qos=1)
        msgs = await receive(ctl, 1.0)
    assert msgs == []


async def test_agent_cannot_read_another_agents_commands(broker: Broker) -> None:
    async with (
        client(broker, "controller") as ctl,
        client(broker, "site-a") as a,
        client(broker, "site-b") as b,
    ):
        await a.subscribe(topics.agent_topic("site-b", "cmd"), qos=1)
        await a.subscribe(topics.all_agents("cmd"), qos=1)
        await b.subscribe(topics.agent_topic("site-b", "cmd"), qos=1)
        await ctl.publish(topics.agent_topic("site-b", "cmd"), b"for b", qos=1)
        got_a, got_b = await asyncio.gather(receive(a, 1.0), receive(b, 1.0))
    assert got_a == []
    assert [m.payload for m in got_b] == [b"for b"]


async def test_connection_without_client_certificate_is_refused(broker: Broker) -> None:
    ctx = ssl.create_default_context(cafile=str(broker.pki.ca_cert))
    with pytest.raises(aiomqtt.MqttError):
        async with aiomqtt.Client(broker.host, broker.port, tls_context=ctx, timeout=3):
            pass
    # The reload itself refuses nobody else: an agent still enrolled connects as before.
    async with client(broker, "site-b"):
        pass


async def test_revoked_agent_is_refused(broker: Broker) -> None:
    async with client(broker, "site-c"):
        pass  # enrolled: connects
    ctx = broker.tls_context("site-c")  # loaded before the key file is removed by revoke
    broker.pki.revoke("site-c")
    broker.reload_crl()

    async def refused() -> bool:
        try:
            async with aiomqtt.Client(broker.host, broker.port, tls_context=ctx, timeout=3):
                return False
        except aiomqtt.MqttError:
            return True

    await until_async(refused, 15, "the reloaded broker to refuse the revoked certificate")
    # The reload itself refuses nobody else: an agent still enrolled connects as before.
    async with client(broker, "site-b"):
        pass
