"""Two controller replicas on one PostgreSQL and one Mosquitto: ingest shared once, a campaign survives the
SIGKILL of the leader lease holder (taken over, nothing sent or written twice, nothing lost)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text

from controller.hub import Hub, HubSettings
from controller.lease import PgLease, PgMutex
from controller.store import Store
from controller.store.base import CameraFilter, CommandRow
from devstack.stack import Stack
from tests.pg import PgCluster, running_postgres
from tests.timing import scaled

pytestmark = [pytest.mark.integration]
FINAL = {"SUCCEEDED", "FAILED", "REJECTED", "TIMED_OUT", "CANCELED"}


@pytest.fixture(scope="module")
def pg() -> Iterator[PgCluster]:
    with running_postgres() as cluster:
        yield cluster


def new_db(pg: PgCluster, name: str) -> str:
    pg.psql(f'CREATE DATABASE "{name}" OWNER camfleet')
    return pg.dsn(name)


async def until(check: Any, seconds: float, what: str, step: float = 0.2) -> Any:
    deadline = time.monotonic() + scaled(seconds)
    while time.monotonic() < deadline:
        got = await check()
        if got:
            return got
        await asyncio.sleep(step)
    raise AssertionError(f"{what}: not within {seconds} s")


# ---- the lease itself ----------------------------------------------------------------------------------
async def test_one_holder_and_takeover_when_it_dies(pg: PgCluster) -> None:
    dsn = new_db(pg, "lease_unit")
    a, b = PgLease(dsn, interval_s=0.1, holder="a"), PgLease(dsn, interval_s=0.1, holder="b")
    seen: list[tuple[str, bool]] = []
    a.listeners.append(lambda h: seen.append(("a", h)))
    b.listeners.append(lambda h: seen.append(("b", h)))
    ta = asyncio.create_task(a.run())
    await until(lambda: _true(a.held), 10, "a holds")
    tb = asyncio.create_task(b.run())
    await asyncio.sleep(0.6)
    assert a.held and not b.held  # exactly one holder
    ta.cancel()  # the holder goes away: its session ends, the other takes over
    await asyncio.gather(ta, return_exceptions=True)
    assert not a.held
    await until(lambda: _true(b.held), 10, "b takes over")
    assert seen == [("a", True), ("a", False), ("b", True)]
    # The holder's connection killed by the server (as when its host vanishes): it notices and gives up.
    conn = await asyncpg.connect(pg.superuser_dsn)
    try:
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'camfleet-lease b'"
        )
    finally:
        await conn.close()
    await until(lambda: _true(("b", False) in seen), 10, "b notices")
    await until(lambda: _true(b.held), 10, "b leads again after reconnecting")
    tb.cancel()
    await asyncio.gather(tb, return_exceptions=True)


async def _true(v: bool) -> bool:
    return v


async def test_cluster_mutex_excludes_across_connections(pg: PgCluster) -> None:
    dsn = new_db(pg, "mutex_unit")
    m1, m2 = PgMutex(dsn), PgMutex(dsn)
    inside: list[int] = []
    overlap = False

    async def worker(m: PgMutex, n: int) -> None:
        nonlocal overlap
        for _ in range(3):
            async with m:
                inside.append(n)
                overlap |= len(inside) > 1
                await asyncio.sleep(0.05)
                inside.remove(n)

    await asyncio.wait_for(asyncio.gather(worker(m1, 1), worker(m2, 2), worker(m1, 3)), 30)
    assert not overlap
    # A waiter cancelled while the other replica holds the mutex leaves nothing locked behind it.
    async with m1:
        waiter = asyncio.create_task(worker(m2, 4))
        await asyncio.sleep(0.3)
        waiter.cancel()
        await asyncio.gather(waiter, return_exceptions=True)
    await asyncio.wait_for(worker(m2, 5), 10)
    assert not overlap
    m1.close()
    m2.close()


# ---- the whole system ----------------------------------------------------------------------------------
@pytest.fixture
def replicas(pg: PgCluster) -> Iterator[Stack]:
    # 150 ms per camera request, so a stage takes seconds and the kill lands mid-campaign.
    s = Stack(cameras=12, sites=("north", "south"), seed=11, latency="150ms", controllers=2,
              store_url=new_db(pg, f"replicas_{int(time.time() * 1000)}"))  # fmt: skip
    s.start()
    try:
        asyncio.run(s.wait_inventory(120))
        yield s
    finally:
        s.cleanup()


async def leader(dsn: str) -> str:
    """The client id of the replica whose lease connection holds an advisory lock."""
    conn = await asyncpg.connect(dsn)
    try:
        name = await conn.fetchval(
            """SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
               WHERE l.locktype = 'advisory' AND l.granted AND a.application_name LIKE 'camfleet-lease %'"""
        )
    finally:
        await conn.close()
    return str(name or "").removeprefix("camfleet-lease ")


@pytest.mark.slow
def test_two_replicas_share_ingest_and_survive_the_leader_killed_mid_campaign(replicas: Stack) -> None:
    s = replicas

    async def go() -> None:
        store = Store(s.store_url)
        await store.open()
        try:
            await ingest_once(s, store)
            await campaign_with_leader_killed(s, store)
        finally:
            await store.close()

    asyncio.run(go())


async def ingest_once(s: Stack, store: Store) -> None:
    """Both replicas are subscribed through one shared group: each report is stored by one of them only."""
    rows, total = await store.query_cameras(CameraFilter(), limit=1000)
    assert total == s.cameras and len({r.camera_id for r in rows}) == s.cameras
    async with store.read() as r:
        dup = (
            await r.conn.exec_driver_sql(
                "SELECT camera_id, at, change, count(*) FROM camera_history GROUP BY 1, 2, 3 HAVING count(*) > 1"
            )
        ).all()
        n_agents = (await r.conn.exec_driver_sql("SELECT count(*) FROM agents")).scalar_one()
    assert not dup, dup
    assert n_agents == len(s.sites)
    # Both replicas answer the same data (one database).
    a = await s.api("GET", "/api/v1/summary", replica=0)
    b = await s.api("GET", "/api/v1/summary", replica=1)
    assert a["total"] == b["total"] == s.cameras


async def campaign_with_leader_killed(s: Stack, store: Store) -> None:
    held = await until(lambda: leader(s.store_url), 20, "a replica holds the lease")
    lead = int(held.rsplit("-", 1)[-1])
    other = 1 - lead
    spec = {"name": "replicas", "where": {"all": True}, "stages": ["disable_cloud"], "preview": "none",
            "plan": {"canary": 2, "growth": 2.0, "max_batch": 6}, "ttl_s": 120,
            "gate": {"success_threshold": 0.0, "failure_threshold": 1.0, "min_executed": 1}}  # fmt: skip
    # Created and started through the replica that does NOT lead: the leader's tick picks it up.
    c = await s.api("POST", "/api/v1/campaigns", replica=other, json=spec)
    cid = c["campaign_id"]
    assert len(c["batches"]) >= 3, c
    await s.api("POST", f"/api/v1/campaigns/{cid}/start", replica=other)

    async def started() -> bool:
        st = await s.api("GET", f"/api/v1/campaigns/{cid}", replica=other)
        return any(b["state"] == "RUNNING" and b["batch_id"] != "b001" for b in st["batches"])

    await until(started, 60, "the campaign is past its canary")
    s.procs[s.replica_name(lead)].kill()  # SIGKILL mid-campaign
    await until(lambda: _is(leader(s.store_url), f"camfleet-controller-{other}"), 20, "the survivor leads")

    async def done() -> dict[str, Any] | None:
        st: dict[str, Any] = await s.api("GET", f"/api/v1/campaigns/{cid}", replica=other)
        return st if st["state"] in ("COMPLETED", "ABORTED", "PAUSED") else None

    st = await until(done, 150, "the campaign finishes on the survivor", 0.5)
    assert st["state"] == "COMPLETED", st
    assert all(b["state"] == "SUCCEEDED" for b in st["batches"]), [b["state"] for b in st["batches"]]
    # The survivor drained and ended the dead replica's MQTT session, where Mosquitto parks the share of
    # results it keeps routing to a disconnected member (otherwise they would wait there for its return).
    survivor = s.procs[s.replica_name(other)]
    await until(lambda: _true(f"adopted the MQTT session of dead replica camfleet-controller-{lead}" in survivor.tail(20_000)),
                30, "the dead replica's session is adopted")  # fmt: skip
    await check_invariants(s, store, cid)


async def _is(name: Any, want: str) -> bool:
    return bool(await name == want)


async def check_invariants(s: Stack, store: Store, cid: str) -> None:
    async with store.read() as r:
        execs = (await r.conn.execute(
            text("""SELECT e.command_id, e.camera_id, e.state FROM executions e JOIN commands c USING (command_id)
                    WHERE c.campaign_id = :cid AND c.dry_run = 0"""), {"cid": cid},
        )).mappings().all()  # fmt: skip
        cmds = (await r.conn.execute(
            text("SELECT batch_id, action, agent_id, count(*) AS n FROM commands WHERE campaign_id = :cid"
                 " AND dry_run = 0 GROUP BY 1, 2, 3"), {"cid": cid},
        )).mappings().all()  # fmt: skip
        audit = (await r.conn.exec_driver_sql("SELECT action, subject FROM audit")).mappings().all()
    # Every targeted camera ran exactly once, and ended in one final state (SUCCEEDED: the cameras comply).
    per_camera = Counter(r["camera_id"] for r in execs)
    assert len(per_camera) == s.cameras and set(per_camera.values()) == {1}, per_camera
    assert {r["state"] for r in execs} == {"SUCCEEDED"}, Counter(r["state"] for r in execs)
    # One command per batch, stage and agent; each created (and so published) once.
    assert all(r["n"] == 1 for r in cmds), [dict(r) for r in cmds]
    created = Counter(r["subject"] for r in audit if r["action"] == "command.create")
    campaign_cmds = {r["command_id"] for r in execs}
    assert all(created[c] == 1 for c in campaign_cmds), created
    # Each final result recorded once (not double-counted when results were redelivered or shared).
    finals = Counter(r["subject"] for r in audit if r["action"] == "execution.final")
    assert all(finals[f"{r['command_id']}/{r['camera_id']}"] == 1 for r in execs), finals
    # No camera setting written twice.
    cams = await s.camsim("GET", "/cameras")
    items = cams["cameras"] if isinstance(cams, dict) else cams
    writes = [n for c in items for n in c["writes"].values()]
    assert writes and all(n <= 1 for n in writes), writes
    # The lifecycle moved once per camera, and the chain of both replicas' entries verifies.
    moved = Counter(r["subject"] for r in audit if r["action"] == "camera.lifecycle")
    assert set(moved.values()) == {1} and len(moved) == s.cameras, moved
    report = await store.verify_audit()
    assert report.ok, report.problems


# ---- dispatch of QUEUED commands by several replicas ------------------------------------------------------
class CountingHub(Hub):
    """A hub whose publish is a counter (the broker is not the subject here): connected, PUBACK after a pause."""

    published: Counter[str]

    async def publish_command(self, agent_id: str, envelope: bytes) -> bool:
        await asyncio.sleep(0.01)  # let the other replica run in between
        self.published[envelope.decode()] += 1
        return not envelope.startswith(b"fail")


async def test_queued_commands_are_claimed_once_across_replicas(pg: PgCluster) -> None:
    dsn = new_db(pg, "dispatch_unit")
    stores = [Store(dsn), Store(dsn)]
    for st in stores:
        await st.open()
    try:
        old = time.time() - 60  # past the grace left to a command's creator
        ids = [f"cmd-{i}" for i in range(20)]
        for i, cid in enumerate(ids):
            env = f"{'fail' if i == 0 else 'ok'}-{cid}".encode()
            await stores[0].create_command(
                CommandRow(cid, "agent-x", "disable_cloud", {}, False, old, time.time() + 600, "test", envelope=env),
                [f"cam-{i}"],
            )  # fmt: skip
        fresh = CommandRow("cmd-fresh", "agent-x", "disable_cloud", {}, False, time.time(), time.time() + 600,
                           "test", envelope=b"ok-fresh")  # fmt: skip
        await stores[0].create_command(fresh, ["cam-fresh"])
        counts: Counter[str] = Counter()
        hubs = [CountingHub(st, HubSettings(), ["k"]) for st in stores]
        for h in hubs:
            h.published = counts
        sent = await asyncio.gather(*(h.dispatch_queued() for h in hubs))
        # Every old command went out exactly once; the failed one went back to QUEUED; the fresh one is left
        # to its creator for now.
        assert sum(sent) == 19
        assert all(n == 1 for n in counts.values()) and len(counts) == 20, counts
        states = {cid: (await stores[0].get_command(cid)).state for cid in [*ids, "cmd-fresh"]}  # type: ignore[union-attr]
        assert states["cmd-0"] == "QUEUED" and states["cmd-fresh"] == "QUEUED"
        assert all(states[c] == "SENT" for c in ids[1:]), states
        assert {e.state for e in await stores[0].executions("cmd-5")} == {"SENT"}
        # A claim left by a replica that died mid-publish goes back to QUEUED when the lease changes hands.
        assert await stores[1].claim_command("cmd-0")
        assert (await stores[0].get_command("cmd-0")).state == "DISPATCHING"  # type: ignore[union-attr]
        assert not await stores[0].claim_command("cmd-0")  # one winner
        assert await stores[0].requeue_claimed() == 1
        assert (await stores[0].get_command("cmd-0")).state == "QUEUED"  # type: ignore[union-attr]
    finally:
        for st in stores:
            await st.close()
