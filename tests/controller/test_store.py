"""The fleet store on SQLite and PostgreSQL: idempotent ingest, monotonic executions, migrations, tamper-evident audit."""

from __future__ import annotations

import time

import pytest

from controller.store import Store, migrate
from controller.store.base import (
    AgentRow,
    AlertRow,
    ApprovalRow,
    BatchRow,
    CameraFilter,
    CameraRow,
    CampaignRow,
    CommandRow,
    ExecutionRow,
    MemberRow,
    RetiredRow,
    StepRow,
    marginal,
)
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
    assert await s2.revision() == migrate.head()
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


async def test_pages_in_every_order_are_the_sorted_filtered_fleet_cut_in_pieces(store: Store) -> None:
    # Ties on every key (three sites, three scores), one vanished camera: the pages concatenated are the whole
    # match, sorted by the key then the id, whatever the order and the page size.
    rows = [
        cam(i, site="abc"[i % 3], risk_score=(i * 7) % 3 * 10, host=f"10.0.{i % 4}.1") for i in range(1, 24)
    ]
    await store.ingest_cameras("site-a", rows, full=True, removed=[], seq=1)
    await store.ingest_cameras("site-a", [], full=False, removed=["cam-005"], seq=2)
    present = [r for r in rows if r.camera_id != "cam-005"]
    for flt, want in (
        (CameraFilter(), present),
        (CameraFilter(site="b"), [r for r in present if r.site == "b"]),
    ):
        for order in ("camera_id", "-camera_id", "site", "-site", "risk_score", "-risk_score", "host"):
            col, desc = order.lstrip("-"), order.startswith("-")
            # the key ascending or descending, ties by id ascending (a stable sort by the key after the id)
            by_id = sorted(want, key=lambda r: r.camera_id)
            ids = [r.camera_id for r in sorted(by_id, key=lambda r: getattr(r, col), reverse=desc)]
            for per in (4, 50):
                got: list[str] = []
                for offset in range(0, len(want) + per, per):
                    page, total = await store.query_cameras(flt, limit=per, offset=offset, order=order)
                    assert total == len(want)
                    got += [r.camera_id for r in page]
                assert got == ids, (flt, order, per)


async def test_ingest_duplicates_removals_and_reappearance(store: Store) -> None:
    # A camera listed twice in one report (two scan passes) is written as the last listing, with both changes
    # in its history, exactly as an agent sending two reports would.
    n = await store.ingest_cameras(
        "site-a", [cam(1, firmware="a"), cam(2), cam(1, firmware="b")], full=True, removed=[], seq=1
    )
    assert n == 3
    got = await store.get_camera("cam-001")
    assert got is not None and got.firmware == "b"
    changes = [h["change"] for h in await store.camera_history("cam-001")]
    assert {"firmware": ["a", "b"]} in changes and {"first_seen": [None, "127.0.1.1"]} in changes
    # An incremental report that removes a camera hides it; a later full report brings it back.
    await store.ingest_cameras("site-a", [], full=False, removed=["cam-002"], seq=2)
    assert (await store.query_cameras(CameraFilter()))[1] == 1
    assert (await store.list_agents())[0].camera_count == 1
    await store.ingest_cameras("site-a", [cam(1), cam(2)], full=True, removed=[], seq=3)
    rows, total = await store.query_cameras(CameraFilter(), order="-camera_id")
    assert total == 2 and [r.camera_id for r in rows] == ["cam-002", "cam-001"]
    # Another agent's full report never hides this agent's cameras.
    await store.ingest_cameras("site-b", [cam(3, agent_id="site-b")], full=True, removed=["cam-001"], seq=1)
    assert (await store.query_cameras(CameraFilter()))[1] == 3
    assert await store.counts("agent_id") == {"site-a": 2, "site-b": 1}
    assert await store.counts("covered", CameraFilter(agent_id="site-b")) == {"1": 1}


async def test_large_report_round_trips_every_field(store: Store) -> None:
    rows = [cam(i, record=bytes([i % 256]) * 50, tags=["x"], confidence=i / 1000) for i in range(1000)]
    assert await store.ingest_cameras("site-a", rows, full=True, removed=[], seq=1) == 1000
    page, total = await store.query_cameras(CameraFilter(search="CAM-99"), limit=500)
    assert total == 10 and len(page) == 10  # the search box ignores case on both engines
    got = await store.get_camera("cam-777")
    assert got is not None
    want = rows[777]
    assert (got.record, got.confidence, got.covered, got.port, got.fingerprint) == (
        want.record, 0.777, True, 80, "fp-777",
    )  # fmt: skip
    # Tags belong to the controller once a camera is known: a later report does not overwrite them.
    await store.ingest_cameras("site-a", [cam(777, tags=["y"])], full=False, removed=[], seq=2)
    assert (await store.get_camera("cam-777")).tags == ["x"]  # type: ignore[union-attr]
    both, n = await store.query_cameras(CameraFilter(camera_ids=["cam-001", "cam-002", "nope"]))
    assert n == 2 and {r.camera_id for r in both} == {"cam-001", "cam-002"}
    assert (await store.query_cameras(CameraFilter(camera_ids=[])))[1] == 0


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


async def test_campaign_records(store: Store) -> None:
    now = time.time()
    c = CampaignRow("k-1", "north", {"stages": ["disable_cloud"]}, "RUNNING", "alice", now, now)
    batches = [
        BatchRow("k-1", f"b{i:03d}", i, "PENDING", manifest=b"m%d" % i, updated_at=now) for i in range(3)
    ]
    members = [MemberRow("k-1", f"b{i % 3:03d}", f"cam-{i:03d}", "site-a", "INVENTORIED") for i in range(30)]
    await store.campaign_create(c, batches, members)
    got = await store.campaign_get("k-1")
    assert got is not None and got.spec == {"stages": ["disable_cloud"]} and got.state == "RUNNING"
    c.state, c.reason, c.updated_at = "PAUSED", "threshold", now + 1
    await store.campaign_update(c)
    assert [(x.campaign_id, x.state, x.reason) for x in await store.campaign_list()] == [
        ("k-1", "PAUSED", "threshold")
    ]
    b = (await store.campaign_batches("k-1"))[1]
    assert (b.batch_id, b.manifest) == ("b001", b"m1")
    b.state, b.stage_idx, b.manifest_digest, b.manifest_not_after = "AWAITING_APPROVAL", 1, "d1", now + 60
    await store.campaign_batch_update(b)
    assert (await store.campaign_batches("k-1"))[1] == b
    assert len(await store.campaign_members("k-1")) == 30
    mine = await store.campaign_members("k-1", "b001")
    assert [m.camera_id for m in mine][:2] == ["cam-001", "cam-004"] and len(mine) == 10
    mine[0].status, mine[0].stages_done = "failed", 1
    await store.campaign_member_update(mine[0])
    assert (await store.campaign_members("k-1", "b001"))[0] == mine[0]
    # A plan is stored whole or not at all: a duplicate member aborts the whole second campaign.
    with pytest.raises(Exception):  # noqa: B017 - each engine raises its own integrity error
        await store.campaign_create(
            CampaignRow("k-2", "x", {}, "RUNNING", "alice", now, now),
            [BatchRow("k-2", "b000", 0, "PENDING", updated_at=now)],
            [MemberRow("k-2", "b000", "cam-1", "a", "INVENTORIED")] * 2,
        )
    assert await store.campaign_get("k-2") is None and await store.campaign_batches("k-2") == []

    step = StepRow("k-1/b000/run/0/0/site-a", "k-1", "b000", "run", 0, 0, "site-a", "cmd-1", ["cam-000"], now)
    assert await store.campaign_step_add(step)
    assert not await store.campaign_step_add(step)  # the idempotency key: never sent twice
    assert await store.campaign_steps("k-1") == [step] and await store.campaign_steps("k-1", "b001") == []

    sig = ApprovalRow("k-1", "b001", "alice", "key-a", b"\x01sig", "d1", now)
    assert await store.campaign_approval_add(sig)
    assert not await store.campaign_approval_add(sig)
    same_key = ApprovalRow("k-1", "b001", "bob", "key-a", b"s", "d1", now + 1)
    assert not await store.campaign_approval_add(same_key)  # one key counts once, whoever uploads it
    renewed = ApprovalRow("k-1", "b001", "alice", "key-a", b"s2", "d2", now + 2)
    assert await store.campaign_approval_add(renewed)  # a renewed manifest can be signed again
    assert [a.manifest_digest for a in await store.campaign_approvals("k-1", "b001")] == ["d1", "d2"]
    assert (await store.campaign_approvals("k-1", "b001"))[0] == sig


async def test_retired_cameras_changes_and_alerts(store: Store) -> None:
    r = RetiredRow("cam-001", "DECOMMISSIONED", "fp-1", "SN1", ["00:11:22:33:44:55"], 10.0)
    await store.retired_put(r)
    r.lifecycle, r.seen_gone, r.alerted_at = "REMOVED", True, 12.5
    await store.retired_put(r)
    assert await store.retired_list() == [r]

    before = time.time() - 0.001
    await store.ingest_cameras("site-a", [cam(1), cam(2)], full=True, removed=[], seq=1)
    await store.ingest_cameras("site-a", [cam(1)], full=True, removed=[], seq=2)
    changed = {row.camera_id: vanished for row, vanished in await store.cameras_changed_since(before)}
    assert changed == {"cam-001": False, "cam-002": True}
    assert await store.cameras_changed_since(time.time() + 60) == []

    a1 = await store.alert_add(AlertRow(0, 1.0, "reappeared", "cam-009", "cam-001", "back", {"fp": "fp-1"}))
    a2 = await store.alert_add(AlertRow(0, 2.0, "reappeared", "cam-010", "cam-001", "back", {}))
    assert a2.alert_id > a1.alert_id > 0
    assert [a.alert_id for a in await store.alerts()] == [a2.alert_id, a1.alert_id]
    assert await store.alert_ack(a1.alert_id, "alice", 3.0)
    assert not await store.alert_ack(a1.alert_id, "bob", 4.0)  # acknowledged once
    assert [a.alert_id for a in await store.alerts(open_only=True)] == [a2.alert_id]
    acked = (await store.alerts(limit=1, offset=1))[0]
    assert (acked.acknowledged_by, acked.details) == ("alice", {"fp": "fp-1"})


async def test_breakdown_matches_the_single_column_counts(store: Store) -> None:
    rows = [cam(i, origin=["hikvision", "dahua", "axis"][i % 3], site=["a", "b"][i % 2], cloud_reachable=i % 4 == 0)
            for i in range(1, 41)]  # fmt: skip
    await store.ingest_cameras("site-a", rows, full=True, removed=[], seq=1)
    got = await store.breakdown(("origin", "site", "cloud_reachable"))
    assert marginal(got, 0) == await store.counts("origin")
    assert marginal(got, 1) == await store.counts("site")
    assert marginal(got, 2) == await store.counts("cloud_reachable")
    assert sum(n for _, n in got) == 40
    # Any order, and columns outside the covering index: each value still lands in the column asked for.
    mixed = await store.breakdown(("cloud_reachable", "agent_id", "site", "origin"))
    assert marginal(mixed, 0) == await store.counts("cloud_reachable")
    assert marginal(mixed, 1) == await store.counts("agent_id")
    assert marginal(mixed, 2) == await store.counts("site")
    assert marginal(mixed, 3) == await store.counts("origin")
    with pytest.raises(ValueError):
        await store.breakdown(("record",))
    with pytest.raises(ValueError):
        await store.breakdown(("site", "site"))


async def test_only_the_commands_agent_may_report_on_it(store: Store) -> None:
    cid = await command(store)
    # agent-b knows the command id (say, from a leaked log) but the command went to site-a.
    assert not await store.apply_update(ExecutionRow(cid, "cam-001", "agent-b", "SUCCEEDED", seq=5))
    assert await store.apply_updates([ExecutionRow(cid, "cam-002", "agent-b", "FAILED", seq=6)]) == [False]
    assert {e.state for e in await store.executions(cid)} == {"QUEUED"}
    assert await store.apply_update(ExecutionRow(cid, "cam-001", "site-a", "SUCCEEDED", seq=7))
