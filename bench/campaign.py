"""Campaign benchmark: a disable_cloud campaign over 10,000 cameras answered by simulated agents; time and CPU."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import itertools
import logging
import multiprocessing as mp
import shutil
import sys
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp
import aiomqtt

from bench.common import ControllerProc, cpu_seconds, machine, result_line, rss_mb, seed
from devstack.broker import Broker, make_broker
from protos import topics
from protos.camfleet.v1 import camfleet_pb2 as pb
from protos.keys import Keyring
from protos.verify import MemorySeenStore, VerificationError, Verifier


def agent_ids(n: int) -> list[str]:
    return [f"agent-{a:03d}" for a in range(n)]  # the ids bench.common.seed gives the cameras


def _agents(broker: Broker, ids: list[str], keyring: Path, ready: Any, stats: Any) -> None:
    """Child process: one MQTT client per agent that verifies each envelope and answers SUCCEEDED per camera."""
    logging.getLogger("mqtt").setLevel(logging.ERROR)
    asyncio.run(_run_agents(broker, ids, keyring, ready, stats))


async def _run_agents(broker: Broker, ids: list[str], keyring: Path, ready: Any, stats: Any) -> None:
    keys = Keyring.load(keyring)
    async with AsyncExitStack() as stack:
        tasks = []
        for aid in ids:
            c = aiomqtt.Client(
                broker.host, broker.port, identifier=aid, tls_context=broker.tls_context(aid),
                protocol=aiomqtt.ProtocolVersion.V5, timeout=60, max_inflight_messages=100,
                max_queued_incoming_messages=100_000,
            )  # fmt: skip
            client = await stack.enter_async_context(c)
            st = pb.AgentStatus(agent_id=aid, site=f"site-{aid[-3:]}", version="bench", boot_seq=1, online=True,
                                capabilities=["inventory", "disable_cloud"])  # fmt: skip
            st.at.GetCurrentTime()
            await client.publish(
                topics.agent_topic(aid, "status"), st.SerializeToString(), qos=1, retain=True
            )
            await client.subscribe(topics.agent_topic(aid, "cmd"), qos=1, timeout=30)
            tasks.append(
                asyncio.create_task(_agent(aid, client, Verifier(aid, keys, MemorySeenStore()), stats))
            )
        ready.set()
        await asyncio.gather(*tasks)


async def _agent(aid: str, client: aiomqtt.Client, verifier: Verifier, stats: Any) -> None:
    seq = itertools.count(1)
    sem = asyncio.Semaphore(100)
    pending: set[asyncio.Task[None]] = set()

    async def send(upd: pb.ExecutionUpdate) -> None:
        async with sem:
            await client.publish(
                topics.agent_topic(aid, "result"), upd.SerializeToString(), qos=1, timeout=60
            )

    async for m in client.messages:
        raw = m.payload if isinstance(m.payload, bytes) else b""
        try:
            cmd = verifier.verify(raw).command
        except VerificationError:
            stats[1] += 1
            continue
        stats[0] += 1
        for cid in cmd.camera_ids:
            upd = pb.ExecutionUpdate(command_id=cmd.command_id, camera_id=cid, agent_id=aid,
                                     state=pb.EXECUTION_STATE_SUCCEEDED, seq=next(seq))  # fmt: skip
            upd.settings.add(setting="cloud.p2p", outcome=pb.OUTCOME_CHANGED, before="true", after="false")
            upd.at.GetCurrentTime()
            t = asyncio.create_task(send(upd))
            pending.add(t)
            t.add_done_callback(pending.discard)


async def run(cameras: int, agents: int, plan: dict[str, Any], limit: float) -> dict[str, Any]:
    ids = agent_ids(agents)
    broker = make_broker(tuple(ids))
    broker.start()
    ctl = ControllerProc(broker=(broker.port, broker.pki.ca_cert, broker.pki.root))
    ctx = mp.get_context("spawn")
    stats = ctx.Array("i", 2)
    ready = ctx.Event()
    sim = ctx.Process(target=_agents, args=(dataclasses.replace(broker, proc=None), ids, ctl.root / "keyring.json",
                                            ready, stats), daemon=True)  # fmt: skip
    try:
        secs = await seed(ctl.db, cameras, agents=agents)
        print(f"seeded {cameras} cameras in {secs:.1f} s", file=sys.stderr)
        await ctl.start()
        sim.start()
        if not await asyncio.get_running_loop().run_in_executor(None, ready.wait, 120):
            raise RuntimeError("simulated agents did not connect")
        api = {"Authorization": f"Bearer {ctl.token}"}
        body = {"name": "bench", "where": {"all": True}, "stages": ["disable_cloud"], "plan": plan, "preview": "none",
                "gate": {"success_threshold": 1.0, "failure_threshold": 1.0, "min_executed": 1}}  # fmt: skip
        async with aiohttp.ClientSession(headers=api, timeout=aiohttp.ClientTimeout(total=120)) as s:
            t_create = time.perf_counter()
            async with s.post(f"{ctl.url}/api/v1/campaigns", json=body) as r:
                created = await r.json()
                if r.status != 201:
                    raise RuntimeError(f"create: HTTP {r.status} {created}")
            cid, n_batches = created["campaign_id"], len(created["batches"])
            create_s = time.perf_counter() - t_create
            cpu0, t0 = cpu_seconds(ctl.pid), time.perf_counter()
            async with s.post(f"{ctl.url}/api/v1/campaigns/{cid}/start") as r:
                if r.status >= 300:
                    raise RuntimeError(f"start: HTTP {r.status} {await r.text()}")
            state = ""
            while time.perf_counter() - t0 < limit:
                async with s.get(f"{ctl.url}/api/v1/campaigns", params={"limit": "10"}) as r:
                    state = next(c["state"] for c in (await r.json())["campaigns"] if c["campaign_id"] == cid)
                if state in ("COMPLETED", "ABORTED", "PAUSED"):
                    break
                await asyncio.sleep(0.2)
            wall = time.perf_counter() - t0
            cpu = cpu_seconds(ctl.pid) - cpu0
            async with s.get(f"{ctl.url}/api/v1/campaigns/{cid}") as r:
                detail = await r.json()
        done = sum(1 for b in detail["batches"] if b["state"] == "SUCCEEDED")
        return {
            "cameras": cameras, "agents": agents, "batches": n_batches, "batches_done": done, "state": state,
            "campaign_s": wall, "create_s": create_s, "controller_cpu_s": cpu, "controller_rss_mb": rss_mb(ctl.pid),
            "commands_verified": stats[0], "commands_rejected": stats[1],
        }  # fmt: skip
    finally:
        if sim.is_alive():
            sim.kill()
        ctl.stop()
        broker.stop()
        shutil.rmtree(ctl.root, ignore_errors=True)
        shutil.rmtree(broker.root, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cameras", type=int, default=10_000)
    ap.add_argument("--agents", type=int, default=20)
    ap.add_argument("--canary", type=int, default=10)
    ap.add_argument("--growth", type=float, default=2.0)
    ap.add_argument("--max-batch", type=int, default=1000)
    ap.add_argument("--limit", type=float, default=600.0)
    ap.add_argument("--quick", action="store_true", help="200 cameras, 4 agents (smoke test)")
    args = ap.parse_args()
    if args.quick:
        args.cameras, args.agents, args.max_batch, args.limit = 200, 4, 100, 120.0
    print(machine(), file=sys.stderr)
    plan = {"canary": args.canary, "growth": args.growth, "max_batch": args.max_batch}
    fig = asyncio.run(run(args.cameras, args.agents, plan, args.limit))
    for k, v in fig.items():
        print(f"{k}: {v:.1f}" if isinstance(v, float) else f"{k}: {v}")
    keys = ("cameras", "batches", "batches_done", "state", "campaign_s", "controller_cpu_s")
    print(result_line(**{k: fig[k] for k in keys}))


if __name__ == "__main__":
    main()
