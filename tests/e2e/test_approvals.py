"""Destructive commands on real agents: k-of-n approver signatures checked by the agent itself, and held while
the controller is offline."""

from __future__ import annotations

import asyncio
import ssl
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import aiomqtt
import pytest

from devstack.stack import PASSPHRASE, Stack, wait_until
from protos import topics
from protos.camfleet.v1 import camfleet_pb2 as pb
from protos.envelope import approve, build_manifest, new_command, seal
from protos.keys import Keyring, SigningKey
from tests.timing import log_size, until_log

pytestmark = [pytest.mark.integration, pytest.mark.slow]
APPROVERS = [SigningKey.generate() for _ in range(3)]


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    s = Stack(cameras=8, sites=("north",), seed=21)
    s.root.mkdir(parents=True, exist_ok=True)
    # The agents pin the approver keyring; the controller holds no approver key.
    (s.root / "approvers.json").write_text(Keyring.of(*(a.public_key for a in APPROVERS[:2])).to_json())
    s.start()
    try:
        asyncio.run(s.wait_inventory(90))
        yield s
    finally:
        s.cleanup()


def tls(s: Stack) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(s.root / "pki" / "ca.crt"))
    ctx.load_cert_chain(s.root / "pki" / "controller.crt", s.root / "pki" / "controller.key")
    return ctx


def decommission(s: Stack, camera: str, approvers: list[SigningKey]) -> bytes:
    key = SigningKey.from_pem(
        (s.root / "controller" / "state" / "controller-signing.pem").read_bytes(), PASSPHRASE.encode()
    )
    act = pb.Action(decommission=pb.Decommission(mode=pb.FACTORY_RESET_MODE_SOFT))
    now = datetime.now(UTC)
    batch = str(uuid.uuid4())
    manifest = build_manifest("camp", batch, act, [camera], now + timedelta(hours=1))
    cmd = new_command(
        "agent-north", act, [camera], now=now, campaign_id="camp", batch_id=batch, approval_manifest=manifest
    )
    return seal(cmd, key, [approve(manifest, a) for a in approvers])


async def boots(s: Stack) -> dict[str, int]:
    body = await s.camsim("GET", "/cameras")
    items = body["cameras"] if isinstance(body, dict) else body
    return {f"{c['host']}:{c['port']}": int(c["boots"]) for c in items}


async def publish(s: Stack, raw: bytes) -> None:
    async with aiomqtt.Client(
        "127.0.0.1", s.mqtt_port, tls_context=tls(s), identifier=f"t-{uuid.uuid4()}"
    ) as c:
        await c.publish(topics.agent_topic("agent-north", "cmd"), raw, qos=1)


async def rejections(s: Stack) -> list[str]:
    entries = (await s.api("GET", "/api/v1/audit", params={"limit": "10000"}))["entries"]
    return [e["details"]["details"].get("reason", "") for e in entries
            if e["action"] == "agent.event" and e["details"]["kind"] == "EVENT_KIND_COMMAND_REJECTED"]  # fmt: skip


def test_agent_checks_k_of_n_approvals(stack: Stack) -> None:
    async def go() -> None:
        cams = [c["agent_ref"] for c in (await stack.api("GET", "/api/v1/cameras"))["cameras"]]
        target = cams[0]
        before = await boots(stack)
        for approvers in ([], [APPROVERS[0]], [APPROVERS[0], APPROVERS[0]], [APPROVERS[0], APPROVERS[2]]):
            # the last pair has one approver the agent does not pin
            await publish(stack, decommission(stack, target, approvers))

        async def four_refused() -> bool:
            return (await rejections(stack)).count("insufficient_approvals") >= 4

        await wait_until(four_refused, 20)
        assert (await rejections(stack)).count("insufficient_approvals") == 4
        assert await boots(stack) == before, "a refused decommission touched a camera"
        await publish(stack, decommission(stack, target, [APPROVERS[0], APPROVERS[1]]))

        async def reset() -> bool:
            return (await boots(stack))[target] > before[target]

        await wait_until(reset, 30)
        after = await boots(stack)
        assert after[target] > before[target], "the approved decommission did not reset the camera"
        assert {k: v for k, v in after.items() if k != target} == {
            k: v for k, v in before.items() if k != target
        }

    asyncio.run(go())


def test_destructive_work_waits_for_the_controller(stack: Stack) -> None:
    async def go() -> None:
        cams = [c["agent_ref"] for c in (await stack.api("GET", "/api/v1/cameras"))["cameras"]]
        target = cams[1]
        before = await boots(stack)
        agent_log = stack.procs["agent-north"].log
        mark = log_size(agent_log)
        stack.procs["controller"].stop()  # a clean stop publishes the retained "controller offline"
        await until_log(
            agent_log, "controller is offline", mark, 30, "the agent to see the controller offline"
        )
        await publish(stack, decommission(stack, target, APPROVERS[:2]))
        await until_log(agent_log, "holding decommission", mark, 30, "the agent to hold the decommission")
        assert (await boots(stack))[target] == before[target], (
            "decommissioned while the controller was offline"
        )
        stack.procs["controller"].start()

        async def reset() -> bool:
            return (await boots(stack))[target] > before[target]

        assert await wait_until(reset, 40)

    asyncio.run(go())
