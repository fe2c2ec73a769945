"""The fleet store on SQLite and PostgreSQL: idempotent ingest, monotonic executions, migrations, tamper-evident audit."""

from __future__ import annotations

import time

import pytest

from controller.store.base import AgentRow, CameraFilter, CameraRow, CommandRow, ExecutionRow, Store
from controller.store.migrations import MIGRATIONS
from tests.controller.conftest import Backend


def cam(i: int, **kw: object) -> CameraRow:
    base: dict[str, object] = dict(
        camera_id=f"cam-{i:03d}", agent_id="site-a", site="a", host=f"127.0.1.{i}", port=80,
        manufacturer="HIKVISION", model="DS-2CD2142FWD-I", firmware="V5.5.0 build 170725", origin="hikvision",
        covered=True, oem_rebrand=False, confidence=0.9, risk_score=70, risk_level="high", cloud_reachable=True,
        fingerprint=f"fp-{i}", reachable=True, observed_at=time.time(), record=b"\x0a\x01x",
    )  # fmt: skip
    base.update(kw)
    return CameraRow(**base)  # type: ignore[arg-type]


async def test_reopen_keeps_state_and_schema(backend: Backend) -> None:
    s = await backend.new_store()
    await s.ingest_cameras("site-a", [cam(1)], full=True, removed=[], seq=1)
    await s.close()
    s2 = await backend.new_store()
    assert await s2.schema_version() == len(MIGRATIONS)  # type: ignore[attr-defined]
    assert (await s2.get_camera("cam-001")) is not None


async def test_inventory_seq_drops_stale_reports(store: Store) -> None:
    assert await store.ingest_cameras("site-a", [cam(1, firmware="new")], full=False, removed=[], seq=5) == 1
    assert await store.ingest_cameras("site-a", [cam(1, firmware="old")], full=False, removed=[], seq=4) == 0
    assert await store.ingest_cameras("site-a", [cam(1, firmware="new")], full=False, removed=[], seq=5) == 0
    got = await store.get_camera("cam-001")
    assert got is not None and got.firmware == "new"


async def test_full_report_marks_missing_cameras_vanished(store: Store) -> None:
    await store.ingest_cameras("site-a", [cam(1), cam(2)], full=True, removed=[], seq=1)
    await store.ingest_cameras("site-a", [cam(1)], full=True, removed=[], seq=2)
    rows, total = await store.query_cameras(CameraFilter())
    assert total == 1 and [r.camera_id for r in rows] == ["cam-001"]
    assert (await store.list_agents())[0].camera_count == 1


async def test_history_and_lifecycle_survive_reinventory(store: Store) -> None:
    await store.ingest_cameras("site-a", [cam(1)], full=False, removed=[], seq=1)
    await store.set_lifecycle("cam-001", "CLOUD_OFF")
    await store.ingest_cameras("site-a", [cam(1, cloud_reachable=False)], full=False, removed=[], seq=2)
    got = await store.get_camera("cam-001")
    assert got is not None and got.lifecycle == "CLOUD_OFF" and got.cloud_reachable is False
    changes = [h["change"] for h in await store.camera_history("cam-001")]
    assert {"cloud_reachable": [1, 0]} in changes


async def test_filters_search_pagination_and_counts(store: Store) -> None:
    rows = [
        cam(i, origin="dahua" if i % 3 == 0 else "hikvision", site="b" if i % 2 else "a")
        for i in range(1, 31)
    ]
    await store.ingest_cameras("site-a", rows, full=True, removed=[], seq=1)
    page, total = await store.query_cameras(CameraFilter(origin="dahua"), limit=4, offset=0)
    assert total == 10 and len(page) == 4
    page2, _ = await store.query_cameras(CameraFilter(origin="dahua"), limit=4, offset=4)
    assert not {r.camera_id for r in page} & {r.camera_id for r in page2}
    assert (await store.counts("origin")) == {"dahua": 10, "hikvision": 20}
    found, n = await store.query_cameras(CameraFilter(search="127.0.1.17"))
    assert n == 1 and found[0].camera_id == "cam-017"
    with pytest.raises(ValueError):
        await store.query_cameras(CameraFilter(), order="record; DROP TABLE cameras")


async def test_agent_birth_and_stale_death(store: Store) -> None:
    await store.upsert_agent(AgentRow("site-a", boot_seq=2, online=True, last_seen=1.0))
    assert not await store.upsert_agent(AgentRow("site-a", boot_seq=1, online=True))
    # The Last Will of the previous boot must not mark the new session offline.
    assert not await store.mark_agent_offline("site-a", boot_seq=1, at=2.0)
    assert (await store.list_agents())[0].online
    assert await store.mark_agent_offline("site-a", boot_seq=2, at=3.0)
    assert not (await store.list_agents())[0].online


async def command(store: Store, not_after: float | None = None) -> str:
    row = CommandRow(
        "c-1", "site-a", "disable_cloud", {}, False, time.time(), not_after or time.time() + 60, "alice"
    )
    await store.create_command(row, ["cam-001", "cam-002"])
    return row.command_id


async def test_execution_updates_are_monotonic_and_final_once(store: Store) -> None:
    cid = await command(store)
    await store.set_command_state(cid, "SENT")
    assert await store.apply_update(ExecutionRow(cid, "cam-001", "site-a", "IN_PROGRESS", seq=2))
    assert not await store.apply_update(ExecutionRow(cid, "cam-001", "site-a", "ACCEPTED", seq=1))
    done = ExecutionRow(cid, "cam-001", "site-a", "SUCCEEDED", settings=[{"setting": "ezviz"}], seq=3)
    assert await store.apply_update(done)
    assert not await store.apply_update(done)  # redelivered
    assert not await store.apply_update(ExecutionRow(cid, "cam-001", "site-a", "FAILED", seq=9))
    ex = {e.camera_id: e for e in await store.executions(cid)}
    assert ex["cam-001"].state == "SUCCEEDED" and ex["cam-002"].state == "SENT"
    got = await store.get_command(cid)
    assert got is not None and got.state == "IN_PROGRESS"
    assert await store.apply_update(ExecutionRow(cid, "cam-002", "site-a", "FAILED", seq=4))
    got = await store.get_command(cid)
    assert got is not None and got.state == "COMPLETED_WITH_FAILURES"


async def test_expiry_times_out_pending_executions_once(store: Store) -> None:
    cid = await command(store, not_after=time.time() - 1)
    await store.apply_update(ExecutionRow(cid, "cam-001", "site-a", "SUCCEEDED", seq=1))
    expired = await store.expire_executions(time.time())
    assert [e.camera_id for e in expired] == ["cam-002"]
    assert await store.expire_executions(time.time()) == []
    states = {e.camera_id: e.state for e in await store.executions(cid)}
    assert states == {"cam-001": "SUCCEEDED", "cam-002": "TIMED_OUT"}


async def test_cancel(store: Store) -> None:
    cid = await command(store)
    assert await store.cancel_command(cid) == 2
    got = await store.get_command(cid)
    assert got is not None and got.state == "CANCELED"


async def test_audit_chain_verifies_and_refuses_edits(store: Store, backend: Backend) -> None:
    for i in range(5):
        await store.append_audit("alice", "command.create", f"c-{i}", {"n": i, "cams": ["a", "b"]})
    report = await store.verify_audit()
    assert report.ok and report.entries == 5
    with pytest.raises(backend.db_error, match="append-only"):
        await backend.raw(store, "UPDATE audit SET actor = 'mallory' WHERE seq = 2")
    with pytest.raises(backend.db_error, match="append-only"):
        await backend.raw(store, "DELETE FROM audit WHERE seq = 2")
    assert (await store.verify_audit()).ok


@pytest.mark.parametrize(
    ("sql", "expect"),
    [
        (["UPDATE audit SET details = '{\"n\": 99}' WHERE seq = 3"], "altered"),
        (["UPDATE audit SET actor = 'mallory' WHERE seq = 1"], "altered"),
        (["DELETE FROM audit WHERE seq = 2"], "missing"),
        (["DELETE FROM audit WHERE seq = 4"], "missing"),
        (["DELETE FROM audit WHERE seq = 4"], "does not link"),
        (["DELETE FROM audit WHERE seq = 5"], "removed"),
    ],
)
async def test_audit_tampering_is_detected(backend: Backend, sql: list[str], expect: str) -> None:
    s = await backend.new_store()
    for i in range(5):
        await s.append_audit("alice", "x", str(i), {"n": i})
    await s.close()
    await backend.tamper(*sql)
    s2 = await backend.new_store()
    report = await s2.verify_audit()
    assert not report.ok
    assert any(expect in p for p in report.problems), report.problems
    # Reopening re-arms the guards that the tampering switched off.
    with pytest.raises(backend.db_error, match="append-only"):
        await backend.raw(s2, "DELETE FROM audit WHERE seq = 1")
