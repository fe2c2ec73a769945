"""The fleet over MQTT end to end: real camsim, Mosquitto (or the embedded broker), controller and agents."""

from __future__ import annotations

import asyncio
import collections
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import aiomqtt
import pytest

from devstack.stack import PASSPHRASE, Stack
from protos import topics
from protos.camfleet.v1 import camfleet_pb2 as pb
from protos.envelope import new_command, seal
from protos.keys import SigningKey
from tests.timing import scaled

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    s = Stack(cameras=30, seed=11)
    s.start()
    try:
        asyncio.run(s.wait_inventory(120))
        yield s
    finally:
        s.cleanup()


async def writes(s: Stack) -> dict[str, dict[str, int]]:
    cams = await s.camsim("GET", "/cameras")
    items = cams["cameras"] if isinstance(cams, dict) else cams
    return {f"{c['host']}:{c['port']}": dict(c["writes"]) for c in items}


def test_inventory_of_a_multi_site_fleet_matches_truth(stack: Stack) -> None:
    summary = asyncio.run(stack.api("GET", "/api/v1/summary"))
    truth = stack.truth()
    assert summary["total"] == len(truth) == 30
    assert summary["site"] == {"north": 10, "south": 10, "east": 10}
    want = collections.Counter(
        t["true_manufacturer"] for t in truth if t["true_manufacturer"] in ("hikvision", "dahua", "axis")
    )
    got = {k: v for k, v in summary["origin"].items() if k in ("hikvision", "dahua", "axis")}
    assert got == dict(want)
    oem = sum(1 for t in truth if t.get("oem_brand"))
    assert summary["oem_rebrand"] == oem
    agents = asyncio.run(stack.api("GET", "/api/v1/agents"))["agents"]
    assert {a["agent_id"]: a["online"] for a in agents} == {f"agent-{s}": True for s in stack.sites}


def test_command_round_trip_with_per_setting_outcomes(stack: Stack) -> None:
    async def go() -> None:
        before = await writes(stack)
        res = await stack.api(
            "POST", "/api/v1/commands", json={"action": "disable_cloud", "where": {"origin": "dahua"}}
        )
        details = [await stack.wait_command(c["command_id"]) for c in res["commands"]]
        execs = [e for d in details for e in d["executions"]]
        assert execs and all(e["state"] == "SUCCEEDED" for e in execs), execs
        changed = [s for e in execs for s in e["settings"] if s["outcome"] == "changed"]
        assert any(s["setting"].startswith("dahua.") for s in changed)
        after = await writes(stack)
        # Every change the agents report as changed reached the camera once, and nothing else was written.
        grew = sum(sum(after[k].values()) - sum(before.get(k, {}).values()) for k in after)
        assert grew == len(changed)
        # Running it again is a no-op: every setting is `already`, and camsim sees no write.
        res2 = await stack.api(
            "POST", "/api/v1/commands", json={"action": "disable_cloud", "where": {"origin": "dahua"}}
        )
        details2 = [await stack.wait_command(c["command_id"]) for c in res2["commands"]]
        outcomes2 = {s["outcome"] for d in details2 for e in d["executions"] for s in e["settings"]}
        assert "changed" not in outcomes2
        assert await writes(stack) == after

    asyncio.run(go())


def controller_key(s: Stack) -> SigningKey:
    pem = (s.root / "controller" / "state" / "controller-signing.pem").read_bytes()
    return SigningKey.from_pem(pem, PASSPHRASE.encode())


def test_forged_and_stale_commands_are_rejected_and_reported(stack: Stack) -> None:
    key = controller_key(stack)
    agent = "agent-north"
    cams_body = asyncio.run(stack.api("GET", "/api/v1/cameras", params={"site": "north", "limit": "3"}))
    cams = [c["agent_ref"] for c in cams_body["cameras"]]  # what the agent calls them
    act = pb.Action(disable_cloud=pb.DisableCloud())
    now = datetime.now(UTC)
    valid = seal(new_command(agent, act, cams, now=now), key)
    attacker = SigningKey(key.key_id, SigningKey.generate().private_key)
    unsigned_env = pb.Envelope(kind=pb.PAYLOAD_KIND_COMMAND,
                               payload=new_command(agent, act, cams, now=now).SerializeToString())  # fmt: skip
    cases = {
        "bad_signature": seal(new_command(agent, act, cams, now=now), attacker),
        "unsigned": b"CFv1" + unsigned_env.SerializeToString(),
        "expired": seal(
            new_command(agent, act, cams, now=now - timedelta(hours=2), ttl=timedelta(minutes=1)), key
        ),
        "not_yet_valid": seal(new_command(agent, act, cams, now=now + timedelta(hours=1)), key),
        "wrong_target": seal(new_command("agent-south", act, cams, now=now), key),
    }

    async def go() -> None:
        before = await writes(stack)
        tls = stack.root / "pki"
        import ssl

        ctx = ssl.create_default_context(cafile=str(tls / "ca.crt"))
        ctx.load_cert_chain(tls / "controller.crt", tls / "controller.key")
        # Someone with broker access (here: the controller's own certificate) injects commands directly.
        async with aiomqtt.Client(
            "127.0.0.1", stack.mqtt_port, tls_context=ctx, identifier=f"intruder-{uuid.uuid4()}"
        ) as c:
            for raw in cases.values():
                await c.publish(topics.agent_topic(agent, "cmd"), raw, qos=1)
            await c.publish(topics.agent_topic(agent, "cmd"), valid, qos=1)
            # The replay: QoS 1 from one publisher arrives in order, after the original was verified.
            await c.publish(topics.agent_topic(agent, "cmd"), valid, qos=1)
        deadline = time.monotonic() + scaled(30)
        reasons: list[str] = []
        while time.monotonic() < deadline:
            entries = (await stack.api("GET", "/api/v1/audit", params={"limit": "10000"}))["entries"]
            reasons = [e["details"]["details"].get("reason", "") for e in entries
                       if e["action"] == "agent.event" and e["details"]["kind"] == "EVENT_KIND_COMMAND_REJECTED"]  # fmt: skip
            if {"bad_signature", "expired", "not_yet_valid", "wrong_target", "replayed"} <= set(reasons):
                break
            await asyncio.sleep(0.5)
        assert {"bad_signature", "expired", "not_yet_valid", "wrong_target", "replayed"} <= set(reasons), (
            reasons
        )
        assert reasons.count("bad_signature") >= 2  # forged and unsigned
        after = await writes(stack)
        # Only the one valid command changed anything, and only on its own cameras, once.
        touched = {k for k in after if after[k] != before.get(k, {})}
        assert touched <= {c for c in cams}

    asyncio.run(go())


def test_bad_input_is_a_clear_4xx(stack: Stack) -> None:
    async def go() -> None:
        r = await stack.api(
            "POST", "/api/v1/commands", json={"action": "restrict_network", "where": {"site": "east"}}
        )
        assert "allow" in r["error"]

    asyncio.run(go())


def test_embedded_broker_flow() -> None:
    s = Stack(cameras=12, sites=("solo",), broker="embedded", seed=3)
    try:
        s.start()
        asyncio.run(s.wait_inventory(90))

        async def go() -> dict[str, Any]:
            res = await s.api(
                "POST", "/api/v1/commands", json={"action": "disable_cloud", "where": {"origin": "hikvision"}}
            )
            return await s.wait_command(res["commands"][0]["command_id"])

        detail = asyncio.run(go())
        assert detail["executions"] and all(e["state"] == "SUCCEEDED" for e in detail["executions"])
    finally:
        s.cleanup()


def test_metrics_of_controller_and_agents(stack: Stack) -> None:
    async def go() -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as s:
            async with s.get(f"{stack.url}/metrics") as r:
                text = await r.text()
            assert "camfleet_agents_online 3.0" in text
            assert 'camfleet_cameras{lifecycle="INVENTORIED"}' in text
            for site, port in stack.metrics_ports.items():
                async with s.get(f"http://127.0.0.1:{port}/metrics") as r:
                    agent_text = await r.text()
                assert "camfleet_agent_broker_connected 1.0" in agent_text, site
                assert "camfleet_agent_cameras 10.0" in agent_text, site

    asyncio.run(go())
