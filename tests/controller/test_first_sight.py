"""Two agents report the same new device at the same instant (overlapping address ranges at a site, a camera moved
between sites), on SQLite and PostgreSQL, each agent through its own controller replica: exactly one agent owns
it, the other's record of it is refused as foreign with the usual audit entry and alert, the rest of both reports
is stored, and the audit chain verifies."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import pytest

from controller.hub import Hub, HubSettings
from controller.identity import Identity
from controller.store import Store
from controller.store.base import CameraFilter
from protos import topics
from protos.camfleet.v1 import camfleet_pb2 as pb
from tests.controller.conftest import Backend

MAC_D, MAC_E = "3c:ef:8c:10:00:01", "3c:ef:8c:10:00:02"
Cam = tuple[str, str, Sequence[str]]  # the agent's reference, serial, MACs


def inventory(agent: str, cams: Sequence[Cam], seq: int = 1) -> tuple[str, bytes]:
    rep = pb.InventoryReport(agent_id=agent, seq=seq, full=True)
    for ref, serial, macs in cams:
        host, port = ref.rsplit(":", 1)
        c = rep.cameras.add(camera_id=ref, host=host, port=int(port), reachable=True)
        c.identity.manufacturer, c.identity.model = "Dahua", "IPC-HFW1230S"
        c.identity.serial = serial
        c.identity.macs.extend(macs)
        c.origin.manufacturer, c.origin.confidence = "dahua", 0.9
    return topics.agent_topic(agent, "inventory"), rep.SerializeToString()


def gate(store: Store, barrier: asyncio.Barrier) -> None:
    """The hub's ownership check (Store.same_devices, read before the report's transaction) returns only once
    both replicas have made it: both reports then reach the store believing the device new, as when two
    reports arrive at the same instant. A barrier, not a sleep: the race happens every run."""
    check: Callable[..., Awaitable[dict[str, str]]] = store.same_devices
    first = True

    async def gated(*args: Any, **kw: Any) -> dict[str, str]:
        nonlocal first
        got = await check(*args, **kw)
        if first:
            first = False
            await barrier.wait()
        return got

    store.same_devices = gated  # type: ignore[method-assign]


# The contested device as each agent sees it: the ONVIF serial and MACs on both; a vendor-API serial and no
# MAC on both; MACs on one, only the serial on the other (same_device: the serial decides).
CASES = {
    "serial+mac": (("SN-D-0001", [MAC_D]), ("sn-d-0001", [MAC_D.upper()])),
    "serial only": (("SN-D-0002", []), ("SN-D-0002", [])),
    "mac on one side": (("SN-D-0003", [MAC_E]), ("SN-D-0003", [])),
}


@pytest.mark.parametrize("case", sorted(CASES))
async def test_two_agents_reporting_one_new_device_at_once_give_it_one_owner(
    backend: Backend, case: str
) -> None:
    (serial_a, macs_a), (serial_b, macs_b) = CASES[case]
    replicas = [await backend.new_store(), await backend.new_store()]
    barrier = asyncio.Barrier(2)
    for s in replicas:
        gate(s, barrier)
    hubs = [Hub(s, HubSettings(), []) for s in replicas]
    a = inventory("site-a", [("10.1.0.7:80", serial_a, macs_a), ("10.1.0.8:80", "SN-A-0001", ["3c:ef:8c:0a:00:01"]),
                             ("10.9.9.9:80", "", [])])  # fmt: skip
    b = inventory("site-b", [("10.2.0.7:80", serial_b, macs_b), ("10.2.0.8:80", "SN-B-0001", []),
                             ("10.9.9.9:80", "", [])])  # fmt: skip
    await asyncio.gather(hubs[0].handle(*a), hubs[1].handle(*b))

    store = replicas[0]
    cams, _ = await store.query_cameras(CameraFilter(), limit=100)
    device = Identity.of(serial_a, macs_a)
    same = [c for c in cams if Identity.of(c.serial, c.macs).same_device(device)]
    assert len(same) == 1, [(c.camera_id, c.agent_id, c.serial, c.macs) for c in same]
    owner = same[0].agent_id
    loser = "site-b" if owner == "site-a" else "site-a"
    # The rest of both reports is stored: each agent's own camera, and each agent's unidentified camera at
    # 10.9.9.9:80 (its address is its id: one is known as the reference, the other as agent/reference).
    refs = sorted((c.agent_id, c.agent_ref, c.identified_by) for c in cams)
    contested = {"site-a": "10.1.0.7:80", "site-b": "10.2.0.7:80"}
    assert refs == sorted([
        ("site-a", "10.1.0.8:80", "serial+mac"), ("site-a", "10.9.9.9:80", "address"),
        ("site-b", "10.2.0.8:80", "serial"), ("site-b", "10.9.9.9:80", "address"),
        (owner, contested[owner], same[0].identified_by),
    ]), refs  # fmt: skip
    by_address = sorted(c.camera_id for c in cams if c.identified_by == "address")
    assert by_address[0] == "10.9.9.9:80" and by_address[1] in ("site-a/10.9.9.9:80", "site-b/10.9.9.9:80")
    # The loser's record of the device is refused as foreign, audited and alerted once; nothing is quarantined
    # (the rest of its report was applied).
    alerts = [x for x in await store.alerts(open_only=True) if x.kind == "foreign_report"]
    assert [(x.camera_id, x.details["agent_id"], x.details["owner"]) for x in alerts] == [
        (same[0].camera_id, loser, owner)
    ]
    audit = await store.audit_entries()
    refused = [(e.actor, e.subject, e.details["owner"]) for e in audit if e.action == "agent.foreign_report"]
    assert refused == [(f"agent:{loser}", same[0].camera_id, owner)]
    assert await store.quarantine_list() == []
    report = await store.verify_audit()
    assert report.ok, report.problems
    assert {x.agent_id: x.camera_count for x in await store.list_agents()} == {owner: 3, loser: 2}

    # From now on the loser's reports naming the device are refused whole, as for any foreign camera, with no
    # second alert; the owner's are applied.
    again = inventory(loser, [(contested[loser], *CASES[case][loser == "site-b"])], seq=2)
    await hubs[1].handle(*again)
    assert next(q.reason for q in await store.quarantine_list()).startswith(
        "names 1 camera(s) of other agents"
    )
    assert len([x for x in await store.alerts(open_only=True) if x.kind == "foreign_report"]) == 1


async def test_the_first_report_of_a_large_site_is_stored_whole(store: Store) -> None:
    """Every new identity is locked while it is looked up (PostgreSQL): 8,000 cameras with a serial and two MACs
    each (24,000 keys, beyond the lock slots of the test server, 12,800, and of a default one, 6,400) still go in
    as one report."""
    n = 8000
    cams = [(f"10.{3 + i // 4000}.{i % 4000 // 250}.{i % 250}:80", f"SN-L-{i:05d}", [f"3c:ef:8c:20:{i // 256:02x}:{i % 256:02x}",
                                                                            f"3c:ef:8c:21:{i // 256:02x}:{i % 256:02x}"])
            for i in range(n)]  # fmt: skip
    hub = Hub(store, HubSettings(), [])
    await hub.handle(*inventory("site-l", cams))
    assert await store.quarantine_list() == []
    assert (await store.query_cameras(CameraFilter(agent_id="site-l")))[1] == n


async def test_cameras_stored_twice_before_are_repaired_keeping_the_oldest(backend: Backend) -> None:
    """Revision 0012: of two agents' cameras that are one device (what the race left behind), the one seen first
    keeps the device; the other is retired (vanished, no identity, a history entry) and its agent's reports of
    the device are refused from then on, with an alert raised by the migration. Duplicates within one agent and
    cloned serials with other MACs are left alone."""
    s = await backend.new_store()
    hub = Hub(s, HubSettings(), [])
    cloned = "SN-CLONED-01"
    # site-b reports first (its camera is the oldest), then site-a; site-a reaches one device at two addresses.
    await hub.handle(*inventory("site-b", [("10.2.0.7:80", "SN-B-0007", ["3c:ef:8c:0b:00:07"]),
                                           ("10.2.0.9:80", cloned, ["3c:ef:8c:0b:00:09"])]))  # fmt: skip
    await hub.handle(*inventory("site-a", [("10.1.0.7:80", "SN-D-0001", [MAC_D]),
                                           ("10.1.0.8:80", "SN-F-0001", ["3c:ef:8c:0a:00:08"]),
                                           ("10.1.0.18:80", "SN-F-0001", ["3c:ef:8c:0a:00:08"]),
                                           ("10.1.0.9:80", cloned, ["3c:ef:8c:0a:00:09"])]))  # fmt: skip
    cams, _ = await s.query_cameras(CameraFilter(), limit=100)
    ids = {(c.agent_id, c.agent_ref): c.camera_id for c in cams}
    b_cam, a_cam = ids[("site-b", "10.2.0.7:80")], ids[("site-a", "10.1.0.7:80")]
    # Reported at head (today's ingest writes tables 0011 lacks, such as the fleet revision), then back to 0011
    # to leave, by hand, what the race left: site-b's camera is device D too.
    await s.downgrade("0011_stable_identity")
    await backend.raw(s, f"UPDATE cameras SET serial = 'SN-D-0001', macs = '[\"{MAC_D.upper()}\"]' "
                         f"WHERE camera_id = '{b_cam}'")  # fmt: skip
    await backend.raw(s, f"DELETE FROM camera_macs WHERE camera_id = '{b_cam}'")
    await backend.raw(s, f"INSERT INTO camera_macs (camera_id, mac) VALUES ('{b_cam}', '{MAC_D.upper()}')")
    await s.upgrade()

    kept, gone = await s.get_camera(b_cam), await s.get_camera(a_cam)
    assert kept is not None and (kept.agent_id, kept.serial, kept.macs) == (
        "site-b",
        "SN-D-0001",
        [MAC_D.upper()],
    )
    assert gone is not None and (
        gone.agent_id,
        gone.serial,
        gone.macs,
        gone.identified_by,
        gone.agent_ref,
    ) == ("site-a", "", [], "address", "")
    assert (await s.camera_history(a_cam))[0]["change"] == {"duplicate_of": [None, b_cam]}
    assert (await s.query_cameras(CameraFilter(camera_ids=[a_cam])))[1] == 0  # vanished
    assert await s.same_devices("site-b", [Identity.of("SN-D-0001", [MAC_D])]) == {}
    # The rest is as it was: one agent's two addresses of one device, and the cloned serials.
    assert (await s.query_cameras(CameraFilter(agent_id="site-a")))[1] == 3
    assert (await s.query_cameras(CameraFilter(agent_id="site-b")))[1] == 2
    alerts = [
        (x.kind, x.camera_id, x.matched_camera_id, x.details["agent_id"])
        for x in await s.alerts(open_only=True)
    ]
    assert alerts == [("foreign_report", b_cam, a_cam, "site-a")]
    # The owner's reports apply; the other agent's are refused as foreign, the alert already open.
    await hub.handle(*inventory("site-b", [("10.2.0.7:80", "SN-D-0001", [MAC_D])], seq=2))
    assert await s.quarantine_list() == []
    await hub.handle(*inventory("site-a", [("10.1.0.7:80", "SN-D-0001", [MAC_D])], seq=2))
    assert [q.agent_id for q in await s.quarantine_list()] == ["site-a"]
    assert len(await s.alerts(open_only=True)) == 1
    report = await s.verify_audit()
    assert report.ok, report.problems
