"""PostgreSQL only: replicas sharing one database (no lost or double-counted update), guards, and the app on it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError

from controller.api import STORE
from controller.app import build_app
from controller.auth import hash_password, new_token, token_hash
from controller.config import ControllerConfig
from controller.store import Store, migrate
from controller.store.base import CameraRow, CommandRow, ExecutionRow, StepRow, UserRow
from protos.camfleet.v1 import camfleet_pb2 as pb
from protos.keys import SigningKey
from tests.controller.test_store import cam
from tests.pg import PgCluster

pytestmark = pytest.mark.integration


def row(i: int, origin: str) -> CameraRow:
    """A camera whose record is a real CameraRecord, as the API decodes it."""
    rec = pb.CameraRecord(camera_id=f"cam-{i:04d}", host=f"127.0.1.{i + 1}", port=80)
    rec.origin.manufacturer = origin
    return cam(i, camera_id=rec.camera_id, host=rec.host, origin=origin, manufacturer=origin.upper(),
               record=rec.SerializeToString())  # fmt: skip


@pytest.fixture
async def replicas(pg_cluster: PgCluster, pg_database: str) -> AsyncIterator[tuple[Store, ...]]:
    """Two controllers on one database, opened at the same time (their migrations race, and must not clash)."""
    stores = (Store(pg_cluster.dsn(pg_database)), Store(pg_cluster.dsn(pg_database)))
    await asyncio.gather(*(s.open() for s in stores))
    yield stores
    for s in stores:
        await s.close()


async def test_concurrent_open_migrates_once(replicas: tuple[Store, ...]) -> None:
    a, b = replicas
    assert await a.revision() == await b.revision() == migrate.head()
    async with a.read() as r:
        assert (await r.conn.exec_driver_sql("SELECT COUNT(*) FROM alembic_version")).scalar_one() == 1


async def test_updates_shared_by_replicas_are_counted_once(replicas: tuple[Store, ...]) -> None:
    a, b = replicas
    cams = [f"cam-{i:03d}" for i in range(40)]
    await a.create_command(
        CommandRow("c-1", "site-a", "disable_cloud", {}, False, time.time(), time.time() + 60, "alice"), cams
    )
    await b.set_command_state("c-1", "SENT")
    # Every final update is delivered to both replicas at once (a QoS 1 redelivery after a failover): each
    # is applied exactly once, and the command's roll-up sees all of them (none lost to a race).
    updates = [ExecutionRow("c-1", c, "site-a", "SUCCEEDED", seq=1) for c in cams]
    results = await asyncio.gather(*(s.apply_update(u) for u in updates for s in (a, b)))
    assert sum(results) == len(cams)
    got = await b.get_command("c-1")
    assert got is not None and got.state == "SUCCEEDED"
    assert {e.state for e in await a.executions("c-1")} == {"SUCCEEDED"}


async def test_expiry_and_steps_race_safely(replicas: tuple[Store, ...]) -> None:
    a, b = replicas
    await a.create_command(
        CommandRow("c-2", "site-a", "disable_cloud", {}, False, 1.0, time.time() - 1, "alice"), ["x", "y"]
    )
    expired = await asyncio.gather(a.expire_executions(time.time()), b.expire_executions(time.time()))
    assert sorted(e.camera_id for batch in expired for e in batch) == ["x", "y"]  # timed out once, not twice
    got = await a.get_command("c-2")
    assert got is not None and got.state == "COMPLETED_WITH_FAILURES"
    step = StepRow("k/b000/run/0/0/site-a", "k", "b000", "run", 0, 0, "site-a", "c-3", ["x"], 1.0)
    assert sorted(await asyncio.gather(a.campaign_step_add(step), b.campaign_step_add(step))) == [False, True]


async def test_one_audit_chain_for_all_replicas(replicas: tuple[Store, ...]) -> None:
    a, b = replicas
    await asyncio.gather(*(s.append_audit("ctl", "x", str(i), {"i": i}) for i in range(40) for s in (a, b)))
    entries = await b.audit_entries()
    assert [e.seq for e in entries] == list(range(1, 81))
    report = await a.verify_audit()
    assert report.ok and report.entries == 80


async def test_reports_of_one_agent_on_two_replicas_keep_the_newest(
    replicas: tuple[Store, ...],
) -> None:
    a, b = replicas
    reports = [(seq, [cam(i, firmware=f"v{seq}") for i in range(50)]) for seq in range(1, 11)]
    await asyncio.gather(
        *(
            (a if seq % 2 else b).ingest_cameras("site-a", rows, full=True, removed=[], seq=seq)
            for seq, rows in reports
        )
    )
    got = await a.get_camera("cam-001")
    assert got is not None and got.firmware == "v10"  # a stale report never rolls a camera back
    assert (await b.list_agents())[0].camera_count == 50


async def test_truncate_is_refused(pg_cluster: PgCluster, pg_database: str) -> None:
    s = Store(pg_cluster.dsn(pg_database))
    await s.open()
    try:
        await s.append_audit("alice", "x", "1", {})
        with pytest.raises(DBAPIError, match="append-only"):
            async with s.tx() as tx:
                await tx.conn.exec_driver_sql("TRUNCATE audit")
        assert (await s.verify_audit()).ok
    finally:
        await s.close()


async def test_unreachable_database_is_a_clear_error(pg_cluster: PgCluster) -> None:
    s = Store(f"postgresql://camfleet:hunter2@127.0.0.1:{pg_cluster.port}/no_such_db")
    with pytest.raises(ConnectionError, match="cannot connect to PostgreSQL") as err:
        await s.open()
    assert "hunter2" not in str(err.value)


async def test_controller_app_on_postgres(tmp_path: Path, pg_cluster: PgCluster, pg_database: str) -> None:
    cfg = ControllerConfig(state_dir=tmp_path, store_url=pg_cluster.dsn(pg_database))
    app = build_app(cfg, SigningKey.generate(), mqtt=False)
    assert isinstance(app[STORE], Store)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        store = app[STORE]
        token = new_token()
        await store.put_user(UserRow("olga", hash_password("x" * 12), "operator"))
        await store.add_token(token_hash(token), "olga", "test")
        rows = [row(i, ["hikvision", "dahua"][i % 2]) for i in range(20)]
        await store.ingest_cameras("site-a", rows, full=True, removed=[], seq=1)
        url = str(server.make_url(""))
        async with ClientSession(headers={"Authorization": f"Bearer {token}"}) as s:
            async with s.get(f"{url}/api/v1/cameras", params={"origin": "dahua", "limit": "4"}) as r:
                body = await r.json()
            assert r.status == 200 and body["total"] == 10 and len(body["cameras"]) == 4
            async with s.get(f"{url}/api/v1/summary") as r:
                assert (await r.json())["origin"] == {"hikvision": 10, "dahua": 10}
            cmd = {"action": "disable_cloud", "where": {"origin": "hikvision"}}
            async with s.post(f"{url}/api/v1/commands", json=cmd) as r:
                created = (await r.json())["commands"]
            assert r.status == 201 and len(created) == 1
            async with s.post(f"{url}/api/v1/commands/{created[0]['command_id']}/cancel") as r:
                assert (await r.json())["canceled"] == 10
            async with s.get(f"{url}/api/v1/audit/verify") as r:
                assert (await r.json())["ok"] is True
        actions = [e.action for e in await store.audit_entries()]
        assert actions[0] == "controller.start" and "command.create" in actions
    finally:
        await server.close()


async def test_ingest_round_trips_do_not_grow_with_the_report(
    pg_cluster: PgCluster, pg_database: str
) -> None:
    """The ingest hot path: a report of 500 cameras costs as many statements as one of 5 (new cameras, and
    cameras known already, each in constant statements; identified ones too)."""
    queries: list[str] = []
    s = Store(pg_cluster.dsn(pg_database))
    await s.open()
    event.listen(s.engine.sync_engine, "before_cursor_execute", lambda *a: queries.append(a[2]))
    try:
        costs = []
        batches = [range(5), range(5), range(5, 505), range(5, 505), range(505, 510), range(510, 1010)]
        for seq, ids in enumerate(batches, start=1):
            queries.clear()
            # the last two reports: identified cameras (serial and MAC), new ones
            rows = [cam(i, firmware=f"v{seq}", **({"serial": f"SN{i:08d}", "macs": [f"02:00:00:00:{i >> 8:02x}:{i & 255:02x}"]}
                                                 if seq > 4 else {})) for i in ids]  # fmt: skip
            assert await s.ingest_cameras("site-a", rows, full=False, removed=["gone"], seq=seq) == len(rows)
            costs.append(len(queries))
        assert costs[0] == costs[2] and costs[1] == costs[3] and costs[4] == costs[5], costs
        assert max(costs) <= 12, costs
        assert len(await s.camera_history("cam-499")) == 2  # first seen, then the firmware change
        assert len(await s.camera_history("cam-001")) == 2
    finally:
        await s.close()
