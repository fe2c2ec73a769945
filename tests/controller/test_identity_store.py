"""Stable camera identity in the store, on SQLite and PostgreSQL: a camera that changes address keeps its id,
lifecycle, history and audit; two that swap addresses are not merged; results and events find a camera by the
reference its agent used; commands and census rows name it as its agent does; existing rows are migrated."""

from __future__ import annotations

import time
from collections.abc import Sequence

from controller.identity import Identity
from controller.publisher import Publisher
from controller.store import Store
from controller.store.base import CameraFilter, CameraRow, CommandRow, ExecutionRow
from controller.store.repos.census import CensusRow, ChannelRow
from protos.camfleet.v1 import camfleet_pb2 as pb
from protos.keys import SigningKey
from tests.controller.conftest import Backend


def cam(ref: str, serial: str = "", macs: Sequence[str] = (), **kw: object) -> CameraRow:
    """A row as the hub builds it from an agent's record: camera_id is the agent's reference."""
    host, port = ref.rsplit(":", 1)
    base: dict[str, object] = dict(
        camera_id=ref, agent_id="site-a", site="a", host=host, port=int(port), manufacturer="HIKVISION",
        model="DS-2CD2143G2-I", firmware="V5.7.3", origin="hikvision", covered=True, oem_rebrand=False,
        confidence=0.9, risk_score=70, risk_level="high", cloud_reachable=True, fingerprint="", reachable=True,
        observed_at=time.time(), record=b"", agent_ref=ref, serial=serial, macs=list(macs),
    )  # fmt: skip
    base.update(kw)
    return CameraRow(**base)  # type: ignore[arg-type]


MAC_X, MAC_Y = "44:19:b6:00:00:01", "44:19:b6:00:00:02"
_seq = iter(range(1, 10**9))


async def report(
    store: Store, rows: list[CameraRow], agent: str = "site-a", *, full: bool = False
) -> dict[str, str]:
    """Ingest a report; the agent reference -> camera id of each row."""
    for r in rows:
        r.agent_id = agent
    got = await store.ingest_inventory(agent, rows, {}, full=full, removed=[], seq=next(_seq))
    return got.ids


async def test_a_camera_that_changes_address_keeps_id_lifecycle_history_and_audit(store: Store) -> None:
    ids = await report(
        store, [cam("10.0.0.5:80", "SNX00001", [MAC_X]), cam("10.0.0.6:80", "SNY00002", [MAC_Y])]
    )
    x = ids["10.0.0.5:80"]
    assert x.startswith("cam-") and x != ids["10.0.0.6:80"]
    await store.set_lifecycle(x, "CLOUD_OFF")
    # DHCP gave it another address: the next full report names it there.
    ids2 = await report(store, [cam("10.0.0.9:80", "snx00001", [MAC_X.upper()]), cam("10.0.0.6:80", "SNY00002", [MAC_Y])],
                        full=True)  # fmt: skip
    assert ids2 == {"10.0.0.9:80": x, "10.0.0.6:80": ids["10.0.0.6:80"]}
    c = await store.get_camera(x)
    assert c is not None and (c.host, c.agent_ref, c.lifecycle, c.identified_by) == (
        "10.0.0.9", "10.0.0.9:80", "CLOUD_OFF", "serial+mac",
    )  # fmt: skip
    # still two cameras present (x has not become a new camera beside a vanished one)
    assert (await store.query_cameras(CameraFilter(site="a")))[1] == 2
    changes = [h["change"] for h in await store.camera_history(x)]
    assert changes[0]["address"] == ["10.0.0.5:80", "10.0.0.9:80"] and changes[0]["host"] == [
        "10.0.0.5",
        "10.0.0.9",
    ]
    assert {"lifecycle": [None, "CLOUD_OFF"]} in changes and "first_seen" in changes[-1]
    moves = [e for e in await store.audit_entries() if e.action == "camera.address"]
    assert [(e.subject, e.actor, e.details["from"], e.details["to"]) for e in moves] == [
        (x, "agent:site-a", "10.0.0.5:80", "10.0.0.9:80")
    ]
    assert (await store.verify_audit()).ok


async def test_two_cameras_that_swap_addresses_are_not_merged(store: Store) -> None:
    ids = await report(store, [cam("a:80", "SNX00001", [MAC_X]), cam("b:80", "SNY00002", [MAC_Y])])
    await store.set_lifecycle(ids["a:80"], "NETWORK_LOCKED")
    swapped = await report(
        store, [cam("a:80", "SNY00002", [MAC_Y]), cam("b:80", "SNX00001", [MAC_X])], full=True
    )
    assert swapped == {"a:80": ids["b:80"], "b:80": ids["a:80"]}
    x, y = await store.get_camera(ids["a:80"]), await store.get_camera(ids["b:80"])
    assert x is not None and y is not None
    assert (x.agent_ref, x.lifecycle, x.serial) == ("b:80", "NETWORK_LOCKED", "SNX00001")
    assert (y.agent_ref, y.lifecycle, y.serial) == ("a:80", "INVENTORIED", "SNY00002")
    assert (await store.query_cameras(CameraFilter()))[1] == 2


async def test_another_device_at_an_address_is_a_new_camera_and_the_old_one_loses_it(store: Store) -> None:
    ids = await report(store, [cam("a:80", "SNX00001", [MAC_X])])
    now = await report(store, [cam("a:80", "SNZ00003", ["44:19:b6:00:00:03"])])
    assert now["a:80"] != ids["a:80"]
    old = await store.get_camera(ids["a:80"])
    assert old is not None and old.agent_ref == ""
    assert (await store.query_cameras(CameraFilter()))[1] == 1  # the replaced camera is no longer present
    assert (await store.camera_history(ids["a:80"]))[0]["change"] == {"displaced": ["a:80", now["a:80"]]}
    audit = [e for e in await store.audit_entries() if e.action == "camera.address"]
    assert [(e.subject, e.details["displaced_by"]) for e in audit] == [(ids["a:80"], now["a:80"])]
    # It comes back elsewhere: the same camera again, with its new address.
    back = await report(store, [cam("c:80", "SNX00001", [MAC_X])])
    again = await store.get_camera(ids["a:80"])
    assert back["c:80"] == ids["a:80"] and again is not None and again.agent_ref == "c:80"


async def test_a_camera_that_moved_and_said_nothing_at_first_is_itself_once_it_does(store: Store) -> None:
    ids = await report(store, [cam("a:80", "SNX00001", [MAC_X])])
    # It moves to b:80 and does not answer there at first: only an address, a camera known by it.
    first = await report(store, [cam("b:80", reachable=False, manufacturer="", model="")], full=True)
    assert first["b:80"] != ids["a:80"]
    # Then it says what it is: the stored camera of that identity, not a second copy of it.
    now = await report(store, [cam("b:80", "SNX00001", [MAC_X])], full=True)
    assert now["b:80"] == ids["a:80"]
    x, ghost = await store.get_camera(ids["a:80"]), await store.get_camera(first["b:80"])
    assert x is not None and ghost is not None and (x.agent_ref, ghost.agent_ref) == ("b:80", "")
    assert (await store.query_cameras(CameraFilter()))[1] == 1  # the address-only record no longer present


async def test_a_camera_that_does_not_answer_keeps_its_identity(store: Store) -> None:
    ids = await report(store, [cam("a:80", "SNX00001", [MAC_X])])
    down = await report(store, [cam("a:80", reachable=False, manufacturer="", model="")])
    c = await store.get_camera(ids["a:80"])
    assert (
        down == ids
        and c is not None
        and (c.serial, c.macs, c.reachable) == ("SNX00001", [MAC_X.upper()], False)
    )


async def test_cameras_without_identity_fall_back_to_their_address_and_are_flagged(store: Store) -> None:
    a = await report(store, [cam("192.168.1.10:80")])
    # Another site with the same private range: another camera, not a report about site-a's.
    b = await report(store, [cam("192.168.1.10:80", site="b")], agent="site-b")
    assert a == {"192.168.1.10:80": "192.168.1.10:80"} and b == {"192.168.1.10:80": "site-b/192.168.1.10:80"}
    ca, cb = await store.get_camera(a["192.168.1.10:80"]), await store.get_camera(b["192.168.1.10:80"])
    assert ca is not None and cb is not None and (ca.agent_id, cb.agent_id) == ("site-a", "site-b")
    assert ca.identified_by == cb.identified_by == "address"
    # Identified later at the same address: the same camera, no longer flagged.
    later = await report(store, [cam("192.168.1.10:80", "SNX00001")])
    c = await store.get_camera(a["192.168.1.10:80"])
    assert later == a and c is not None and c.identified_by == "serial"


async def test_the_same_device_under_another_agent_is_found_and_never_merged(store: Store) -> None:
    ids = await report(store, [cam("a:80", "SNX00001", [MAC_X])])
    assert await store.same_devices("site-b", [Identity.of("snx00001", [])]) == {ids["a:80"]: "site-a"}
    assert await store.same_devices("site-b", [Identity.of("", [MAC_X])]) == {ids["a:80"]: "site-a"}
    assert await store.same_devices("site-a", [Identity.of("SNX00001", [MAC_X])]) == {}
    assert await store.same_devices("site-b", [Identity.of("SNX00001", [MAC_Y])]) == {}  # a cloned serial


async def test_commands_name_the_camera_as_its_agent_does_and_results_find_it_after_a_move(
    store: Store,
) -> None:
    ids = await report(store, [cam("a:80", "SNX00001", [MAC_X]), cam("b:80", "SNY00002", [MAC_Y])])
    x, y = ids["a:80"], ids["b:80"]
    sent: list[tuple[str, bytes]] = []

    async def send(agent: str, env: bytes) -> bool:
        sent.append((agent, env))
        return True

    pub = Publisher(store, SigningKey.generate(), send)
    row = await pub.issue(
        "site-a", pb.Action(reboot=pb.Reboot()), {}, [x, y, "cam-unknown"], actor="olga", ttl_s=60
    )
    env = pb.Envelope.FromString(sent[0][1][4:])
    assert sorted(pb.Command.FromString(env.payload).camera_ids) == ["a:80", "b:80"]
    execs = {e.camera_id: e for e in await store.executions(row.command_id)}
    assert (execs[x].target, execs[y].target) == ("a:80", "b:80")
    assert execs["cam-unknown"].state == "REJECTED" and "no address" in execs["cam-unknown"].message
    # x moves before its result arrives: the agent still names it as the command did.
    await report(store, [cam("c:80", "SNX00001", [MAC_X])])
    upd = ExecutionRow(row.command_id, "a:80", "site-a", "SUCCEEDED", seq=1)
    assert await store.apply_update(upd) and upd.camera_id == x and upd.target == "a:80"
    assert not await store.apply_update(ExecutionRow(row.command_id, x, "site-a", "FAILED", seq=2))
    assert {e.camera_id: e.state for e in await store.executions(row.command_id)}[x] == "SUCCEEDED"
    # The next command names x at its new address; a command for nothing addressable is not published.
    row2 = await pub.issue("site-a", pb.Action(reboot=pb.Reboot()), {}, [x], actor="olga", ttl_s=60)
    assert pb.Command.FromString(pb.Envelope.FromString(sent[1][1][4:]).payload).camera_ids == ["c:80"]
    assert row2.state == "SENT"
    row3 = await pub.issue("site-b", pb.Action(reboot=pb.Reboot()), {}, [x], actor="olga", ttl_s=60)
    assert len(sent) == 2 and row3.state == "COMPLETED_WITH_FAILURES"


async def test_recorder_channels_and_census_name_cameras_by_id(store: Store) -> None:
    ch = ChannelRow(recorder_id="nvr:80", channel=1, agent_id="site-a", site="a", recorder_host="nvr",
                    address="192.168.254.2", protocol="HIKVISION", online=True, status_detail="", model="DS",
                    serial="", firmware="", macs=[], origin="hikvision", covered=True, confidence=0.9,
                    camera_id="a:80", fingerprint="", record=b"")  # fmt: skip
    rows = [
        cam("a:80", "SNX00001", [MAC_X]),
        cam("nvr:80", "SNN00009", ["44:19:b6:00:00:09"], device_class="recorder"),
    ]
    got = await store.ingest_inventory(
        "site-a", rows, {"nvr:80": [ch]}, full=True, removed=[], seq=next(_seq)
    )
    (stored,) = await store.recorder_channels()
    assert (stored.recorder_id, stored.camera_id) == (got.ids["nvr:80"], got.ids["a:80"])
    dev = CensusRow(agent_id="site-a", device_key="mac:X", census_id="c1", site="a", host="10.0.0.5", port=80,
                    macs=[MAC_X], serial="", model="", firmware="", device_class="camera", channels=0,
                    activation="activated", status="inventoried", sources=["sadp"], origin="hikvision", covered=True,
                    confidence=0.9, camera_id="a:80", record=b"")  # fmt: skip
    unknown = CensusRow(**{**vars(dev), "device_key": "mac:Y", "camera_id": "z:80"})
    await store.ingest_census([dev, unknown], agent_id="site-a", census_id="c1", last_part=True)
    assert {d.device_key: d.camera_id for d in await store.census_devices()} == {
        "mac:X": got.ids["a:80"],
        "mac:Y": "",
    }


async def test_existing_cameras_are_migrated_with_their_ids_and_identities(backend: Backend) -> None:
    s = await backend.new_store()
    await s.downgrade("0010_event_seq")
    rec = pb.CameraRecord(camera_id="10.0.0.5:80", host="10.0.0.5", port=80)
    rec.identity.serial, rec.identity.macs[:] = "SNX00001", ["44-19-B6-00-00-01"]
    blob = rec.SerializeToString().hex()
    lit = f"X'{blob}'" if backend.name == "sqlite" else f"'\\x{blob}'::bytea"
    cols = ("agent_id, site, host, port, manufacturer, model, firmware, origin, covered, oem_rebrand, confidence, "
            "risk_score, risk_level, cloud_reachable, fingerprint, reachable, observed_at, record, lifecycle")  # fmt: skip
    vals = "'site-a', 'a', '10.0.0.5', 80, 'H', 'M', 'F', 'hikvision', 1, 0, 0.9, 70, 'high', 1, '', 1, 1.0"
    await backend.raw(
        s, f"INSERT INTO cameras (camera_id, {cols}) VALUES ('10.0.0.5:80', {vals}, {lit}, 'CLOUD_OFF')"
    )
    await backend.raw(s, f"INSERT INTO cameras (camera_id, {cols}) VALUES ('10.0.0.6:80', {vals}, X'', 'INVENTORIED')"
                      if backend.name == "sqlite" else
                      f"INSERT INTO cameras (camera_id, {cols}) VALUES ('10.0.0.6:80', {vals}, ''::bytea, 'INVENTORIED')")  # fmt: skip
    await backend.raw(s, "INSERT INTO executions (command_id, camera_id, agent_id, state) "
                         "VALUES ('c-1', '10.0.0.5:80', 'site-a', 'SENT')")  # fmt: skip
    await s.upgrade()
    x, other = await s.get_camera("10.0.0.5:80"), await s.get_camera("10.0.0.6:80")
    assert x is not None and (x.agent_ref, x.serial, x.macs, x.identified_by, x.lifecycle) == (
        "10.0.0.5:80", "SNX00001", ["44:19:B6:00:00:01"], "serial+mac", "CLOUD_OFF",
    )  # fmt: skip
    assert other is not None and (other.agent_ref, other.identified_by) == ("10.0.0.6:80", "address")
    # The agent's next report finds the migrated camera by its identity, at a new address too.
    ids = await report(s, [cam("10.0.0.9:80", "SNX00001", [MAC_X]), cam("10.0.0.6:80")])
    assert ids == {"10.0.0.9:80": "10.0.0.5:80", "10.0.0.6:80": "10.0.0.6:80"}
    upd = ExecutionRow("c-1", "10.0.0.5:80", "site-a", "SUCCEEDED", seq=1)
    assert await s.apply_update(upd) and upd.camera_id == "10.0.0.5:80"


async def test_a_command_created_without_targets_keeps_naming_cameras_by_id(store: Store) -> None:
    await store.create_command(CommandRow("c-2", "site-a", "reboot", {}, False, time.time(), time.time() + 60, "x"),
                               ["cam-001"])  # fmt: skip
    (e,) = await store.executions("c-2")
    assert e.target == "cam-001"
