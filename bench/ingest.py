"""Controller ingest benchmark: hub-stored messages/s and cameras/s against raw Mosquitto QoS-1, same payloads."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import multiprocessing as mp
import os
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiomqtt

from bench.common import camera_id, cpu_seconds, machine, record, result_line
from controller.hub import Hub, HubSettings
from controller.store import Store
from controller.store.base import CommandRow
from devstack.broker import Broker, running_broker
from devstack.pg import PostgresNotWanted, running_postgres
from protos import topics
from protos.camfleet.v1 import camfleet_pb2 as pb

CHUNK = 200  # cameras per InventoryReport, as agent/daemon.py publishes them
WINDOW = 100  # QoS-1 publishes in flight per simulated agent


def agent_ids(n: int) -> list[str]:
    return [f"agent-{a:03d}" for a in range(n)]


def payloads(kind: str, cameras: int, agents: int) -> dict[str, list[bytes]]:
    """Per agent, in order: InventoryReport chunks, or one SUCCEEDED ExecutionUpdate per camera."""
    out: dict[str, list[bytes]] = {}
    for a, aid in enumerate(agent_ids(agents)):
        mine = range(a, cameras, agents)
        msgs: list[bytes] = []
        if kind == "inventory":
            recs = [record(i, aid, f"site-{a:03d}") for i in mine]
            for seq, k in enumerate(range(0, len(recs), CHUNK), start=1):
                rep = pb.InventoryReport(agent_id=aid, full=False, seq=seq)
                rep.cameras.extend(recs[k : k + CHUNK])
                rep.at.GetCurrentTime()
                msgs.append(rep.SerializeToString())
        else:
            for seq, i in enumerate(mine, start=1):
                upd = pb.ExecutionUpdate(
                    command_id=f"cmd-{aid}", camera_id=camera_id(i), agent_id=aid,
                    state=pb.EXECUTION_STATE_SUCCEEDED, seq=seq,
                )  # fmt: skip
                for name, before, after in (
                    ("cloud.p2p", "true", "false"),
                    ("ntp.server", '"pool.ntp.org"', '"10.0.0.1"'),
                ):
                    upd.settings.add(setting=name, outcome=pb.OUTCOME_CHANGED, before=before, after=after)
                upd.at.GetCurrentTime()
                msgs.append(upd.SerializeToString())
        out[aid] = msgs
    return out


def _publisher(broker: Broker, kind: str, cameras: int, agents: int, ready: Any, go: Any) -> None:
    """Child process: the simulated agents, so their CPU is not charged to the subscriber being measured."""
    logging.getLogger("mqtt").setLevel(logging.ERROR)  # aiomqtt warns about every queued publish past 10
    asyncio.run(_publish(broker, kind, cameras, agents, ready, go))


async def _publish(broker: Broker, kind: str, cameras: int, agents: int, ready: Any, go: Any) -> None:
    data = payloads(kind, cameras, agents)
    async with AsyncExitStack() as stack:
        clients = {}
        for aid in data:
            c = aiomqtt.Client(
                broker.host, broker.port, identifier=f"bench-{aid}", tls_context=broker.tls_context(aid),
                protocol=aiomqtt.ProtocolVersion.V5, timeout=60, max_inflight_messages=WINDOW,
            )  # fmt: skip
            clients[aid] = await stack.enter_async_context(c)
        ready.set()
        await asyncio.get_running_loop().run_in_executor(None, go.wait)

        async def one(aid: str) -> None:
            sem = asyncio.Semaphore(WINDOW)
            topic = topics.agent_topic(aid, kind)  # type: ignore[arg-type]

            async def send(p: bytes) -> None:
                async with sem:
                    await clients[aid].publish(topic, p, qos=1, timeout=60)

            await asyncio.gather(*(send(p) for p in data[aid]))

        await asyncio.gather(*(one(a) for a in data))


async def _drive(
    broker: Broker, kind: str, cameras: int, agents: int, done: Callable[[], bool], limit: float
) -> float:
    """Start the publishers, release them at once, return the seconds until `done()` holds."""
    ctx = mp.get_context("spawn")
    ready, go = ctx.Event(), ctx.Event()
    proc = ctx.Process(
        target=_publisher,
        args=(dataclasses.replace(broker, proc=None), kind, cameras, agents, ready, go),
        daemon=True,
    )
    proc.start()
    loop = asyncio.get_running_loop()
    if not await loop.run_in_executor(None, ready.wait, 300):
        proc.kill()
        raise RuntimeError("publishers did not connect")
    t0 = time.perf_counter()
    go.set()
    while not done():
        if time.perf_counter() - t0 > limit:
            break
        await asyncio.sleep(0.005)
    elapsed = time.perf_counter() - t0
    proc.join(60)
    if proc.is_alive():
        proc.kill()
    return elapsed


async def raw(broker: Broker, kind: str, cameras: int, agents: int, expect: int, limit: float) -> float:
    """Mosquitto alone: the same payloads from the same publishers to one QoS-1 subscriber."""
    got = 0
    async with aiomqtt.Client(
        broker.host, broker.port, identifier=f"raw-{kind}-{os.getpid()}", tls_context=broker.tls_context("controller"),
        protocol=aiomqtt.ProtocolVersion.V5, timeout=30, max_queued_incoming_messages=1_000_000,
    ) as client:  # fmt: skip
        await client.subscribe(topics.all_agents(kind), qos=1, timeout=30)  # type: ignore[arg-type]

        async def count() -> None:
            nonlocal got
            async for _ in client.messages:
                got += 1
                if got >= expect:
                    return

        task = asyncio.create_task(count())
        secs = await _drive(broker, kind, cameras, agents, lambda: got >= expect, limit)
        task.cancel()
    return secs


async def hub_phase(
    broker: Broker, store: Store, kind: str, cameras: int, agents: int, limit: float, tag: str
) -> tuple[float, float, int]:
    """The controller hub storing the same messages; returns (seconds, hub CPU seconds, items stored)."""
    stored = 0

    def listen(k: str, data: dict[str, Any]) -> None:
        nonlocal stored
        if kind == "inventory" and k == "inventory":
            stored += int(data["cameras"])
        elif kind == "result" and k == "execution" and data.get("state") == "SUCCEEDED":
            stored += 1

    if kind == "result":
        now = time.time()
        for a, aid in enumerate(agent_ids(agents)):
            cmd = CommandRow(
                command_id=f"cmd-{aid}", agent_id=aid, action="disable_cloud", params={}, dry_run=False,
                created_at=now, not_after=now + 86400, created_by="bench", state="SENT",
            )  # fmt: skip
            await store.create_command(cmd, [camera_id(i) for i in range(a, cameras, agents)])
    hub = Hub(store, HubSettings(broker.host, broker.port, broker.tls_context("controller"),
                                 client_id=f"bench-hub-{tag}-{kind}"), ["bench"])  # fmt: skip
    hub.listeners.append(listen)
    task = asyncio.create_task(hub.run())
    await asyncio.wait_for(hub.connected.wait(), 30)
    cpu0 = cpu_seconds()
    secs = await _drive(broker, kind, cameras, agents, lambda: stored >= cameras, limit)
    cpu = cpu_seconds() - cpu0
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return secs, cpu, stored


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    n, agents, limit = args.cameras, args.agents, args.limit
    n_inv = sum(-(-len(range(a, n, agents)) // CHUNK) for a in range(agents))
    fig: dict[str, Any] = {"cameras": n, "agents": agents, "inventory_msgs": n_inv, "result_msgs": n}
    stores: list[tuple[str, Callable[[], Any]]] = [("sqlite", None)]  # type: ignore[list-item]
    pg_cm = None
    if args.postgres:
        try:
            pg_cm = running_postgres()
            cluster = pg_cm.__enter__()
            stores.append(("postgres", None))  # type: ignore[arg-type]
        except (ImportError, PostgresNotWanted, RuntimeError) as exc:  # no asyncpg, skipped, or no server
            print(f"postgres skipped: {exc}", file=sys.stderr)
            pg_cm = None
    tmp = Path(tempfile.mkdtemp(prefix="camfleet-bench-ingest-"))
    try:
        with running_broker(tuple(agent_ids(agents))) as broker:
            for name, _ in stores:
                if name == "sqlite":
                    store = Store(tmp / "bench.db")
                else:
                    db = f"bench_{os.getpid()}"
                    cluster.psql(f'CREATE DATABASE "{db}" OWNER camfleet')
                    store = Store(cluster.dsn(db))
                await store.open()
                try:
                    for kind, msgs in (("inventory", n_inv), ("result", n)):
                        raw_s = await raw(broker, kind, n, agents, msgs, limit)
                        hub_s, cpu, stored = await hub_phase(broker, store, kind, n, agents, limit, name)
                        k = "inv" if kind == "inventory" else "upd"
                        fig[f"raw_{k}_msgs_s_{name}"] = msgs / raw_s
                        fig[f"hub_{k}_msgs_s_{name}"] = msgs * stored / n / hub_s
                        fig[f"hub_{k}_cameras_s_{name}"] = stored / hub_s
                        fig[f"hub_{k}_cpu_s_{name}"] = cpu
                        fig[f"ratio_{k}_{name}"] = raw_s / hub_s * stored / n
                        print(f"[{name}] {kind}: raw {raw_s:.2f} s, hub {hub_s:.2f} s ({stored}/{n} stored, "
                              f"hub CPU {cpu:.1f} s)", file=sys.stderr)  # fmt: skip
                finally:
                    await store.close()
    finally:
        if pg_cm is not None:
            pg_cm.__exit__(None, None, None)
    return fig


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cameras", type=int, default=10_000)
    ap.add_argument("--agents", type=int, default=20)
    ap.add_argument("--limit", type=float, default=600.0, help="seconds before a phase gives up")
    ap.add_argument("--no-postgres", dest="postgres", action="store_false")
    ap.add_argument("--quick", action="store_true", help="300 cameras, 3 agents, SQLite only (smoke test)")
    args = ap.parse_args()
    if args.quick:
        args.cameras, args.agents, args.postgres, args.limit = 300, 3, False, 60.0
    print(machine(), file=sys.stderr)
    fig = asyncio.run(main_async(args))
    for k, v in fig.items():
        print(f"{k}: {v:.1f}" if isinstance(v, float) else f"{k}: {v}")
    keys = [
        "cameras",
        *(k for k in fig if k.startswith(("ratio_", "hub_inv_cameras_s", "hub_upd_msgs_s", "raw_"))),
    ]
    print(result_line(**{k: fig[k] for k in keys}))


if __name__ == "__main__":
    main()
